-- Audit entries stored as one row per commit unit (docs/adr/0004-audit-batch-rows.md).
--
-- audit_batch        the entries of one write transaction or one read group commit, for one tenant:
--                    entries[i] = canonical bytes of entry i (what its Merkle leaf commits to),
--                    leaf_hashes[i] = SHA-256(0x00 ‖ entries[i]); patient_ids = the distinct patients
--                    of all its entries; first_at/last_at = the earliest/latest recordedAt.
--                    Entry ids are batch_id + i - 1 (ids step by 4096, the most entries a batch holds).
-- audit_batch_queue  batches not yet sequenced.
-- audit_batch_log    first_seq → batch: the batch's entries hold seqs first_seq … first_seq + count - 1.
--
-- The per-entry tables of 002-audit.sql are converted here, byte for byte: each old entry becomes a
-- batch of one with batch_id = its entry id and first_seq = its seq, so every signed tree head and
-- witness record still verifies against the new tables. The old tables are then dropped. The views
-- audit_entry and audit_log keep the per-entry shape for ad-hoc SQL by auditors and operators.

CREATE SEQUENCE audit_batch_id_seq INCREMENT BY 4096 START WITH 4096;

CREATE TABLE audit_batch (
  tenant_id   text        NOT NULL,
  batch_id    bigint      NOT NULL DEFAULT nextval('audit_batch_id_seq'),
  first_at    timestamptz NOT NULL,
  last_at     timestamptz NOT NULL,
  patient_ids text[]      NOT NULL DEFAULT '{}',
  entries     bytea[]     NOT NULL CHECK (cardinality(entries) BETWEEN 1 AND 4096),
  leaf_hashes bytea[]     NOT NULL,
  PRIMARY KEY (tenant_id, batch_id)
);
ALTER SEQUENCE audit_batch_id_seq OWNED BY audit_batch.batch_id;
-- Newest-first AuditEvent pages and time windows; disclosure reports go through the patients.
CREATE INDEX audit_batch_by_time ON audit_batch (tenant_id, last_at);
CREATE INDEX audit_batch_by_patient ON audit_batch USING gin (patient_ids);

CREATE TABLE audit_batch_queue (
  batch_id  bigint PRIMARY KEY,
  tenant_id text   NOT NULL
);

CREATE TABLE audit_batch_log (
  first_seq bigint PRIMARY KEY CHECK (first_seq >= 0),
  tenant_id text   NOT NULL,
  batch_id  bigint NOT NULL UNIQUE,
  count     int    NOT NULL CHECK (count > 0)
);

INSERT INTO audit_batch (tenant_id, batch_id, first_at, last_at, patient_ids, entries, leaf_hashes)
  SELECT e.tenant_id, e.entry_id, e.recorded_at, e.recorded_at, e.patient_ids, ARRAY[e.canonical],
         ARRAY[coalesce(l.leaf_hash, sha256('\x00'::bytea || e.canonical))]
  FROM audit_entry e LEFT JOIN audit_log l ON l.entry_id = e.entry_id;
INSERT INTO audit_batch_log (first_seq, tenant_id, batch_id, count)
  SELECT seq, tenant_id, entry_id, 1 FROM audit_log;
INSERT INTO audit_batch_queue (batch_id, tenant_id)
  SELECT q.entry_id, e.tenant_id FROM audit_queue q JOIN audit_entry e ON e.entry_id = q.entry_id;
SELECT setval('audit_batch_id_seq', greatest(4096, (SELECT coalesce(max(entry_id), 0) FROM audit_entry)));

DROP TABLE audit_queue;
DROP TABLE audit_log;
DROP TABLE audit_entry;

CREATE TRIGGER audit_batch_append_only BEFORE UPDATE OR DELETE ON audit_batch
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_batch_no_truncate BEFORE TRUNCATE ON audit_batch
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_batch_log_append_only BEFORE UPDATE OR DELETE ON audit_batch_log
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_batch_log_no_truncate BEFORE TRUNCATE ON audit_batch_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_batch, audit_batch_log FROM PUBLIC;

-- One row per entry, its searchable facts read from the signed bytes (never from a copy), plus the
-- batch columns so conditions on them reach the batch indexes through the view.
CREATE VIEW audit_entry AS
  SELECT b.tenant_id,
         b.batch_id + u.ord - 1 AS entry_id,
         b.batch_id,
         u.ord::int AS ordinal,
         (x.j ->> 'id')::uuid AS event_id,
         (x.j ->> 'recordedAt')::timestamptz AS recorded_at,
         x.j ->> 'action' AS action,
         x.j ->> 'outcome' AS outcome,
         x.j -> 'who' ->> 'subject' AS subject,
         x.j -> 'who' ->> 'clientId' AS client_id,
         ARRAY(SELECT p FROM (SELECT r ->> 'patient' AS p, min(i) AS i
                              FROM jsonb_array_elements(x.j -> 'resources') WITH ORDINALITY AS rs(r, i)
                              WHERE r ? 'patient' GROUP BY 1) ps ORDER BY i) AS patient_ids,
         x.j ->> 'requestId' AS request_id,
         u.canonical,
         u.leaf_hash,
         b.first_at AS batch_first_at,
         b.last_at AS batch_last_at,
         b.patient_ids AS batch_patient_ids
  FROM audit_batch b
  CROSS JOIN LATERAL unnest(b.entries, b.leaf_hashes) WITH ORDINALITY AS u(canonical, leaf_hash, ord)
  CROSS JOIN LATERAL (SELECT convert_from(u.canonical, 'UTF8')::jsonb AS j) x;

CREATE VIEW audit_log AS
  SELECT l.first_seq + u.ord - 1 AS seq, l.tenant_id, l.batch_id + u.ord - 1 AS entry_id, u.leaf_hash
  FROM audit_batch_log l
  JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
  CROSS JOIN LATERAL unnest(b.leaf_hashes) WITH ORDINALITY AS u(leaf_hash, ord);
