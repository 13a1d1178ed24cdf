-- Audit batches of a crypto-shredded tenant that a restore cannot bring back (issue 3/4, 2026-11-29).
-- A shredded tenant's backup section stays sealed for ever, but the installation's one Merkle tree
-- runs through its entries. Backups therefore also carry every batch's leaf hashes (no PHI: hashes
-- of the signed entries) under the installation key, and restore writes a batch of a skipped tenant
-- back with those leaf hashes, NULL entries and the reason here. `haven audit verify` then proves
-- the tree around the missing entries and reports them as withheld (an error unless the tenant's
-- keys are destroyed), instead of reporting every later head as broken. The server never sets it.
ALTER TABLE audit_batch ADD COLUMN withheld text;
