-- idx_token_lookup (tenant_id, resource_type, param, code, system) is a prefix
-- of idx_token_lookup_id (… , system, resource_id, migration 019), which answers
-- every lookup it answered. Migration 019 kept it because the planner then chose
-- a sequential scan for a composite's component-code range on the plans test's
-- tables; with the composite SQL as it is compiled now it does not
-- (test/search/plans.test.ts passes without it), and at 1M resources no search
-- of the benchmark set reads it (bench/results/external-*.json, "plans"). It
-- cost every token row a fourth B-tree insert: idx_token is the most expensive
-- table of an HL7 v2 message's COPY (bench/results/hl7v2-copy-limit-*.json).
DROP INDEX IF EXISTS idx_token_lookup;
