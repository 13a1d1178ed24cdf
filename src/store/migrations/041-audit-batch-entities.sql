-- Searching the audit log by entity ("who accessed this lab result?") read every entry of every
-- batch the other parameters left: the resource is inside each entry's signed bytes, so a search by
-- entity alone parsed the whole log (seconds per hundred thousand entries). Like agent_ids,
-- entity_ids holds every resource the batch's entries name, as signed: `Type/id` in a v1 entry, its
-- blind tag (`entity`) in a v2 one, so an identifier never reaches the column in clear; indexed with
-- GIN, and `haven audit verify` checks it covers every entry. Entries that name a type only (a
-- search that found nothing, a shredded tenant's redacted entries) add nothing. Batches written
-- before this migration keep NULL and are read as before (partial index).
ALTER TABLE audit_batch ADD COLUMN entity_ids text[];
CREATE INDEX audit_batch_by_entity ON audit_batch USING gin (entity_ids);
CREATE INDEX audit_batch_without_entities ON audit_batch (tenant_id, last_at) WHERE entity_ids IS NULL;

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
         b.entity_ids AS batch_entity_ids
  FROM audit_batch b
  CROSS JOIN LATERAL unnest(b.entries, b.leaf_hashes) WITH ORDINALITY AS u(canonical, leaf_hash, ord)
  CROSS JOIN LATERAL (SELECT convert_from(u.canonical, 'UTF8')::jsonb AS j) x;
