-- Tamper-evident audit log (docs/security/audit.md).
--
-- audit_entry     every audit entry, appended in the same transaction as the change it records
--                 (reads: group-committed batches); canonical = the bytes the Merkle leaf commits to.
-- audit_queue     entries not yet sequenced (a work queue: the only audit table rows leave).
-- audit_log       seq → entry, contiguous from 0, written only by the sequencer, in the order entries
--                 became visible to it (commit order, batch by batch).
-- audit_tree_head signed tree heads (RFC 9162 style, Ed25519); frontier = the compact tree state
--                 the sequencer resumes from (unsigned; verification recomputes it).
-- audit_signing_key Ed25519 keys for tree heads (private key in the database until the KMS lands).
--
-- The log is global, not per tenant: one sequencer and one tree give one consistency story for
-- the whole installation, and a proof reveals only hashes of other tenants' entries. Entry rows
-- keep tenant_id first in their key so they distribute with the tenant's data.

CREATE TABLE audit_entry (
  tenant_id   text        NOT NULL,
  entry_id    bigserial   NOT NULL,
  event_id    uuid        NOT NULL,
  recorded_at timestamptz NOT NULL,
  action      text        NOT NULL,
  outcome     text        NOT NULL,
  subject     text        NOT NULL,
  client_id   text        NOT NULL,
  patient_ids text[]      NOT NULL DEFAULT '{}',
  request_id  text,
  canonical   bytea       NOT NULL,
  PRIMARY KEY (tenant_id, entry_id)
);
CREATE UNIQUE INDEX audit_entry_by_id ON audit_entry (entry_id);
CREATE INDEX audit_entry_by_time ON audit_entry (tenant_id, recorded_at);
CREATE INDEX audit_entry_by_patient ON audit_entry USING gin (patient_ids);

CREATE TABLE audit_queue (
  entry_id bigint PRIMARY KEY
);

CREATE TABLE audit_log (
  seq       bigint PRIMARY KEY CHECK (seq >= 0),
  tenant_id text   NOT NULL,
  entry_id  bigint NOT NULL UNIQUE,
  leaf_hash bytea  NOT NULL
);

CREATE TABLE audit_tree_head (
  tree_size    bigint      PRIMARY KEY CHECK (tree_size > 0),
  root_hash    bytea       NOT NULL,
  timestamp_ms bigint      NOT NULL,
  key_id       text        NOT NULL,
  signature    bytea       NOT NULL,
  frontier     bytea[]     NOT NULL,
  signed_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_signing_key (
  key_id      text        PRIMARY KEY,
  public_key  bytea       NOT NULL,
  private_key bytea       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Append-only guard. On the embedded server Haven's role owns these tables, so privileges alone
-- cannot stop it: the trigger is the guard (an owner could drop it; verification still detects
-- any change). On external PostgreSQL, let a separate role own the tables and REVOKE UPDATE,
-- DELETE, TRUNCATE from Haven's role (docs/security/audit.md).
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_tree_head_append_only BEFORE UPDATE OR DELETE ON audit_tree_head
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_tree_head_no_truncate BEFORE TRUNCATE ON audit_tree_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_signing_key_append_only BEFORE UPDATE OR DELETE ON audit_signing_key
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_signing_key_no_truncate BEFORE TRUNCATE ON audit_signing_key
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Belt and braces where Haven's role is not the owner (no effect on the owner itself).
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry, audit_log, audit_tree_head, audit_signing_key FROM PUBLIC;
