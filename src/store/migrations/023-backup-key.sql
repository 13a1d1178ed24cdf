-- A `backup` DEK per tenant (docs/security/encryption.md, Backups): it seals the key of the
-- tenant's section of every backup (format 2). It is never written into a backup itself, so
-- crypto-shredding the tenant (destroying its DEKs) also makes older backups of it unreadable.
ALTER TABLE data_key DROP CONSTRAINT IF EXISTS data_key_purpose_check;
ALTER TABLE data_key ADD CONSTRAINT data_key_purpose_check
  CHECK (purpose IN ('resources', 'audit', 'blobs', 'blind-index', 'backup'));
