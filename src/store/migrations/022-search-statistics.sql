-- Planner statistics and settings for search plans (docs/search.md, Performance).
--
-- The planner multiplies the selectivities of the leading index columns as if they were independent.
-- They are not: a blind-index tag belongs to one parameter of one resource type, a date parameter such
-- as birthdate to one type, a code to one parameter and system. Without these objects, at 3,000
-- synthetic patients:
-- - a tag lookup (`Patient?family=…`, protected by default) was estimated at 1 row against 36 found
--   (~240 at 20,000 patients), so PostgreSQL rescanned the birthdate range once per family member
--   (`family=…&birthdate=…`: 60,000 buffers, ~20 ms) instead of starting from the one birthdate
--   (12 buffers, 0.05 ms);
-- - a composite's component code was estimated at 1,247 rows against 19,852, so the search hashed all
--   of them (19,446 buffers) instead of probing the few rows the value range selects (46 buffers).
-- Functional-dependency statistics tell it that `blind` implies `param` and `resource_type`, `code`
-- implies `param` and `system`, and `param` implies `resource_type`.
CREATE STATISTICS IF NOT EXISTS idx_string_blind_dep (dependencies) ON resource_type, param, blind FROM idx_string;
CREATE STATISTICS IF NOT EXISTS idx_token_blind_dep (dependencies) ON resource_type, param, blind FROM idx_token;
CREATE STATISTICS IF NOT EXISTS idx_token_code_dep (dependencies) ON resource_type, param, code, system FROM idx_token;
CREATE STATISTICS IF NOT EXISTS idx_reference_blind_dep (dependencies) ON resource_type, param, blind FROM idx_reference;
CREATE STATISTICS IF NOT EXISTS idx_date_param_dep (dependencies) ON resource_type, param FROM idx_date;

-- No parallel scans of the index tables. Searches run many at a time and read a few index pages each;
-- with better estimates the planner started to choose parallel plans for composites, and starting the
-- workers (10-30 ms on a busy 2-core machine) cost a hundred times the search itself. Bulk work reads
-- `resource`, which keeps its default.
ALTER TABLE idx_string SET (parallel_workers = 0);
ALTER TABLE idx_token SET (parallel_workers = 0);
ALTER TABLE idx_date SET (parallel_workers = 0);
ALTER TABLE idx_reference SET (parallel_workers = 0);
ALTER TABLE idx_number SET (parallel_workers = 0);
ALTER TABLE idx_quantity SET (parallel_workers = 0);
ALTER TABLE idx_uri SET (parallel_workers = 0);

-- Statistics objects stay empty until the next ANALYZE, and on an existing store autovacuum may not
-- analyze these tables for a long time (10 % of rows must change first): fill them now (a sample of
-- each table, seconds at 1M resources).
ANALYZE idx_string, idx_token, idx_reference, idx_date;
