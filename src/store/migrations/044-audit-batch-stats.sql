-- No planner statistics for the audit log's entry blobs. No statement filters,
-- groups or joins on `entries` or `leaf_hashes`, yet every ANALYZE of
-- audit_batch read and measured them for each sampled row: on the 1M-resource
-- benchmark store (409,000 batches) ANALYZE took 1.8-2.1 s, 0.62-0.64 s
-- without them. The maintenance round (src/store/maintenance.ts) analyses the
-- table as the log grows, so that is its cost each time.
ALTER TABLE audit_batch ALTER COLUMN entries SET STATISTICS 0, ALTER COLUMN leaf_hashes SET STATISTICS 0;
