-- Searching the audit log for failed accesses (AuditEvent?outcome=4|8|12: refused requests, errors)
-- read every entry of every batch the other parameters left, because the outcome is inside each
-- entry's signed bytes: on the 1M-resource benchmark store (2.7M entries) 21-26 s for a log with no
-- failure at all. `failed` says whether any entry of the batch is a failure; a partial index holds
-- the few batches that have one. `haven audit verify` checks the flag is set wherever an entry
-- failed (a flag cleared to hide a failure from searches is reported as altered). Batches written
-- before this migration keep NULL and are read as before (partial index).
ALTER TABLE audit_batch ADD COLUMN failed boolean;
CREATE INDEX audit_batch_failed ON audit_batch (tenant_id, last_at) WHERE failed;
CREATE INDEX audit_batch_without_failed ON audit_batch (tenant_id, last_at) WHERE failed IS NULL;

CREATE OR REPLACE VIEW audit_entry AS
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
         b.patient_ids AS batch_patient_ids,
         b.agent_ids AS batch_agent_ids,
         b.entity_ids AS batch_entity_ids,
         b.failed AS batch_failed
  FROM audit_batch b
  CROSS JOIN LATERAL unnest(b.entries, b.leaf_hashes) WITH ORDINALITY AS u(canonical, leaf_hash, ord)
  CROSS JOIN LATERAL (SELECT convert_from(u.canonical, 'UTF8')::jsonb AS j) x;
