-- The audit log's tree-head signing key leaves the database in plaintext (docs/security/audit.md,
-- "Signing key").
--
-- audit_signing_key_wrap  the Ed25519 private key (its 32-byte seed) wrapped by the KMS KEK, with
--                         the key id and purpose as associated data (crypto/kms.ts secretContext).
--                         kek_id = 'none' only when encryption at rest is off (HAVEN_ENV=test).
--                         Rows are updated in place by KEK rotation (re-wrap), never deleted.
--
-- Why a new table instead of re-using audit_signing_key.private_key: audit_signing_key is
-- append-only (it anchors verification: the public keys), while a wrapped key must be re-wrapped
-- on every KEK rotation. Keeping the mutable part apart keeps the anchor immutable.
--
-- The plaintext column is retired through one guarded path: the only UPDATE the trigger allows on
-- audit_signing_key turns private_key from a value into NULL, touching no other column, and only
-- once a wrapped copy of that key exists. The sequencer does that at start (SQL cannot call the
-- KMS, so the wrapping itself cannot happen here). A NOT VALID check refuses any NEW plaintext
-- key while leaving legacy rows readable until the sequencer has wrapped and scrubbed them.

CREATE TABLE audit_signing_key_wrap (
  key_id       text        PRIMARY KEY REFERENCES audit_signing_key (key_id),
  kek_id       text        NOT NULL,
  wrapped      bytea       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  rewrapped_at timestamptz
);

-- A wrapped key is never deleted (a head's key must stay unwrappable while it signs) nor moved to
-- another key id (the associated data would refuse it anyway).
CREATE FUNCTION audit_signing_key_wrap_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.key_id = OLD.key_id THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_signing_key_wrap: % refused (rows are only re-wrapped)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_signing_key_wrap_guard BEFORE UPDATE OR DELETE ON audit_signing_key_wrap
  FOR EACH ROW EXECUTE FUNCTION audit_signing_key_wrap_guard();
CREATE TRIGGER audit_signing_key_wrap_no_truncate BEFORE TRUNCATE ON audit_signing_key_wrap
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

ALTER TABLE audit_signing_key ALTER COLUMN private_key DROP NOT NULL;
ALTER TABLE audit_signing_key ADD CONSTRAINT audit_signing_key_no_plaintext CHECK (private_key IS NULL) NOT VALID;

CREATE FUNCTION audit_signing_key_scrub_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND OLD.private_key IS NOT NULL AND NEW.private_key IS NULL
     AND NEW.key_id = OLD.key_id AND NEW.public_key = OLD.public_key AND NEW.created_at = OLD.created_at
     AND EXISTS (SELECT 1 FROM audit_signing_key_wrap w WHERE w.key_id = OLD.key_id) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER audit_signing_key_append_only ON audit_signing_key;
CREATE TRIGGER audit_signing_key_append_only BEFORE UPDATE OR DELETE ON audit_signing_key
  FOR EACH ROW EXECUTE FUNCTION audit_signing_key_scrub_only();

REVOKE DELETE, TRUNCATE ON audit_signing_key_wrap FROM PUBLIC;

-- How far each external witness (the S3 bucket, audit/witness-s3.ts) has been published: the
-- largest tree size it holds. Only a bookmark, mutable on purpose: set back, heads are offered
-- again (the create-only upload then reports them present); set forward, the witness misses
-- heads, which `haven audit verify --witness` shows as a head the witness lacks.
CREATE TABLE audit_witness_progress (
  witness    text        PRIMARY KEY,
  tree_size  bigint      NOT NULL CHECK (tree_size >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
