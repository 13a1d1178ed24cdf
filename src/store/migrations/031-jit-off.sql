-- No JIT for Haven's database (2026-11-29). PostgreSQL decides on JIT from a statement's estimated
-- total cost, which for a search or a bulk export page with subplans is far above jit_above_cost even
-- when a LIMIT stops it after a few rows; compiling then takes seconds for a query that runs in
-- milliseconds (measured: 3.3 s for a 5 ms export page on the external PostgreSQL 15, where JIT is on
-- and LLVM available). Haven's statements are short and none pays the compile back. A database
-- default reaches every new session without a startup option (which connection poolers may refuse)
-- or a statement per connection. Without the right to alter the database, JIT stays as configured
-- and the notice says so (docs/configuration.md, "External PostgreSQL").
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'JIT stays as configured: role % may not ALTER DATABASE %; run ALTER DATABASE ... SET jit = off as its owner', current_user, current_database();
END $$;
-- This session too (a plain SET outlives the migration's transaction).
SET jit = off;
