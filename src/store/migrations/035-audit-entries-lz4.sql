-- Audit batches' entries compressed with LZ4 instead of pglz (issue 3, docs/adr/0005-audit-entries-lz4.md).
-- A read group-commit batch of sealed entries (~7 x 660 bytes at c16) passes the 2 kB TOAST threshold,
-- so every batch INSERT compresses its entries array before moving it out of line; pglz was ~13 % of
-- that INSERT's PostgreSQL CPU more than LZ4, which also stores slightly fewer bytes
-- (bench/results/audit-read-2026-11-29-lz4.json). Only new rows are written with LZ4: rows already
-- stored keep their pglz form, and PostgreSQL reads both. The entries' bytes, what the Merkle leaves
-- commit to, are the same either way. A PostgreSQL built without LZ4 (the embedded one) keeps pglz.
DO $$
BEGIN
  ALTER TABLE audit_batch ALTER COLUMN entries SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'PostgreSQL has no LZ4: audit_batch.entries stays pglz-compressed';
END $$;
