-- A token index keyed by the resource's patient (ADR 0010, issue 6).
-- "This patient's Observations with code C" was the intersection of two index sets: the patient's
-- ~30 Observations from idx_reference, each probed in idx_token for C (~320 buffers for ~5 rows at
-- 1M resources), and `_has:Observation:patient:code=C` repeated that for candidate after candidate.
-- Here a token of a patient-keyed parameter (src/search/patient-token.ts: `code`) is stored once
-- per Patient the resource references, so a patient and a code are one index range. ref_params
-- names the reference parameters that link the resource to that Patient (sorted), so
-- `performer=Patient/P&code=C` never matches an Observation whose subject is P. Only plaintext
-- tokens: a blind-indexed token stays a tag in idx_token (a blind reference row keeps its target
-- plaintext, so it links like any other). Written and deleted with the
-- resource's other index rows, in the same statement (src/store/index-writer.ts).
CREATE TABLE idx_token_patient (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  system         text,
  code           text NOT NULL,
  patient_id     text NOT NULL,
  ref_params     text[] NOT NULL
);

-- Existing stores: every plaintext `code` token row paired with the same resource's references
-- to a Patient (13–27 s for the 1M-resource benchmark store, ADR 0010).
INSERT INTO idx_token_patient (tenant_id, resource_type, resource_id, param, system, code, patient_id, ref_params)
SELECT t.tenant_id, t.resource_type, t.resource_id, t.param, t.system, t.code, r.target_id,
       array_agg(DISTINCT r.param COLLATE "C" ORDER BY r.param COLLATE "C")
FROM idx_token t
JOIN idx_reference r ON r.tenant_id = t.tenant_id AND r.resource_type = t.resource_type AND r.resource_id = t.resource_id
WHERE t.param = 'code' AND t.code IS NOT NULL AND t.blind IS NULL
  AND r.target_type = 'Patient' AND r.target_id IS NOT NULL
GROUP BY t.tenant_id, t.resource_type, t.resource_id, t.param, t.system, t.code, r.target_id;

CREATE INDEX idx_token_patient_lookup ON idx_token_patient (tenant_id, resource_type, param, code, patient_id, system, resource_id);
CREATE INDEX idx_token_patient_owner ON idx_token_patient (tenant_id, resource_type, resource_id);
-- As for idx_token (migration 022): a code implies its parameter and system; no parallel scans.
CREATE STATISTICS idx_token_patient_code_dep (dependencies) ON resource_type, param, code, system FROM idx_token_patient;
ALTER TABLE idx_token_patient SET (parallel_workers = 0);
ANALYZE idx_token_patient;
