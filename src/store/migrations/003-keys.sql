-- Data-encryption keys (DEKs), one series per tenant and purpose. Only the
-- wrapped form is stored: the plaintext DEK exists only in Haven's memory,
-- and only the KEK in the KMS/HSM can unwrap it. tenant_id leads the key.
CREATE TABLE data_key (
  tenant_id     text NOT NULL,
  purpose       text NOT NULL CHECK (purpose IN ('resources', 'audit', 'blobs', 'blind-index')),
  version       integer NOT NULL CHECK (version > 0),
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'destroyed')),
  kek_id        text NOT NULL,            -- which KEK wrapped it (not secret)
  wrapped       bytea,                    -- NULL once destroyed (crypto-shredding)
  created_at    timestamptz NOT NULL DEFAULT now(),
  rewrapped_at  timestamptz,              -- last KEK rotation that re-wrapped it
  PRIMARY KEY (tenant_id, purpose, version),
  CHECK ((status = 'destroyed') = (wrapped IS NULL))
);
-- At most one active DEK per tenant and purpose: new data is encrypted with it.
CREATE UNIQUE INDEX data_key_active ON data_key (tenant_id, purpose) WHERE status = 'active';
