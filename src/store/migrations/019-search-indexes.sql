-- Search indexes that serve a whole step of a search plan (docs/search.md, Performance).
--
-- Date sort (src/search/compile-sort.ts, driven form): `_sort=date` reads low
-- ascending and `_sort=-date` high descending, and the page order breaks ties
-- on the resource id ascending. With resource_id after the date, the scan
-- yields the complete ORDER BY, so PostgreSQL stops after one page instead of
-- sorting every match (or gathering parallel workers to do it).
--
-- Token lookup with the resource id last: a token criterion nested in `_has`
-- or a chain is probed once per candidate resource (`resource_id = …` with
-- param, code and system); the old lookup index ended at system, so each probe
-- went through idx_token_owner and filtered every token row of the resource
-- (~25 per Observation): seconds at 1M resources. Plain token searches read
-- the same index, now without visiting the table for the id.
--
-- The date indexes replace the ones they extend. idx_token_lookup stays: on a
-- range of one code (a composite's component code) the planner prefers the
-- narrower index for a hash join, and without it chose a sequential scan
-- (test/search/plans.test.ts). IF NOT EXISTS: on a large store an operator
-- may build them CONCURRENTLY first (docs/search.md).
CREATE INDEX IF NOT EXISTS idx_date_low_id ON idx_date (tenant_id, resource_type, param, low, resource_id);
CREATE INDEX IF NOT EXISTS idx_date_high_id ON idx_date (tenant_id, resource_type, param, high DESC, resource_id);
CREATE INDEX IF NOT EXISTS idx_token_lookup_id ON idx_token (tenant_id, resource_type, param, code, system, resource_id);
DROP INDEX IF EXISTS idx_date_low;
DROP INDEX IF EXISTS idx_date_high;
