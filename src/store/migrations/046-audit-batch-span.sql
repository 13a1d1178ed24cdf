-- AuditEvent searches bounded in time on one side only read batches in the other side's order:
-- `date=lt<T>` walked audit_batch_by_time (last_at) from the newest batch back past every batch
-- newer than T (400,000 batches, ~350 ms on the 1M-resource benchmark store), and an oldest-first
-- search (`_sort=date`) sorted every batch by first_at, which no index held (~300 ms).
-- audit_batch_by_first serves the oldest-first order. audit_batch_by_span gives the longest span of
-- a tenant's batches in one index look-up; with it a bound on first_at also bounds last_at (and the
-- reverse), so either index scan starts at T (src/audit/query.ts, dateCondition). Spans come from the
-- batch columns, which `haven audit verify` checks against every entry's signed recordedAt.
CREATE INDEX audit_batch_by_first ON audit_batch (tenant_id, first_at);
CREATE INDEX audit_batch_by_span ON audit_batch (tenant_id, (last_at - first_at));
