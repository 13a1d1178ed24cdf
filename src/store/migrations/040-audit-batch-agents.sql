-- Searching the audit log by agent ("what did this user or application access?") read every
-- batch: the agent is inside each entry's signed bytes, with no batch column to narrow by, so a
-- rare agent meant reading the whole log (15 s at 1,000,000 entries). Like patient_ids, agent_ids
-- holds every who.subject and who.clientId of the batch's entries (as signed: a v2 entry's patient
-- subject is its blind tag), indexed with GIN; `haven audit verify` checks it covers every entry.
-- Batches written before this migration keep NULL (their entries are not rewritten: the table is
-- append-only): a search by agent reads them as before, found through the partial index.
ALTER TABLE audit_batch ADD COLUMN agent_ids text[];
CREATE INDEX audit_batch_by_agent ON audit_batch USING gin (agent_ids);
CREATE INDEX audit_batch_without_agents ON audit_batch (tenant_id, last_at) WHERE agent_ids IS NULL;

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
         b.agent_ids AS batch_agent_ids
  FROM audit_batch b
  CROSS JOIN LATERAL unnest(b.entries, b.leaf_hashes) WITH ORDINALITY AS u(canonical, leaf_hash, ord)
  CROSS JOIN LATERAL (SELECT convert_from(u.canonical, 'UTF8')::jsonb AS j) x;
