-- Blind indexes (docs/security/encryption.md, "Blind indexes").
--
-- blind     HMAC-SHA-256 tag (16 bytes) of a protected parameter's value under the tenant's
--           blind-index data key. Rows of protected parameters carry only the tag: value_norm /
--           value_exact (strings) and code / text_norm (tokens) are NULL; a token's system stays.
--           NULL on every other row.
-- Existing rows are untouched and stay valid: the columns are nullable without default, so ADD
-- COLUMN is a catalogue-only change and DROP NOT NULL only relaxes a check. Rows of protected
-- parameters written before this migration keep their plaintext until their resource is written
-- again or reindexed (docs/security/encryption.md, "Enabling on existing data"); searches on a
-- protected parameter look only at tags, so until then those resources are not found by it.

ALTER TABLE idx_string ADD COLUMN blind bytea;
ALTER TABLE idx_string ALTER COLUMN value_norm DROP NOT NULL;
ALTER TABLE idx_string ALTER COLUMN value_exact DROP NOT NULL;
ALTER TABLE idx_token ADD COLUMN blind bytea;
-- Reference.identifier (subject:identifier=system|value): identifier_value NULL, its tag here.
ALTER TABLE idx_reference ADD COLUMN blind bytea;

-- Equality on the tag, led like the *_lookup indexes, only over blind rows.
CREATE INDEX idx_string_blind ON idx_string (tenant_id, resource_type, param, blind) WHERE blind IS NOT NULL;
CREATE INDEX idx_token_blind ON idx_token (tenant_id, resource_type, param, blind, system) WHERE blind IS NOT NULL;
CREATE INDEX idx_reference_blind ON idx_reference (tenant_id, resource_type, param, blind) WHERE blind IS NOT NULL;
