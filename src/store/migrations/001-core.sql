-- Haven core schema. Every table leads its primary key (or its indexes, for
-- index tables) with tenant_id, so Citus can distribute by tenant unchanged.

CREATE TABLE tenant (
  tenant_id   text PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenant (tenant_id, name) VALUES ('default', 'Default tenant');

-- Current version of every resource (deleted ones kept as tombstones).
-- content is bytes, not jsonb: it goes through the store's body codec, which
-- the encryption issue turns into AES-256-GCM envelope encryption.
CREATE TABLE resource (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  id             text NOT NULL,
  version_id     bigint NOT NULL,
  last_updated   timestamptz NOT NULL,
  deleted        boolean NOT NULL DEFAULT false,
  content        bytea,
  PRIMARY KEY (tenant_id, resource_type, id)
);
CREATE INDEX resource_last_updated ON resource (tenant_id, resource_type, last_updated, id) WHERE NOT deleted;

-- Every version, including the current one and deletions.
CREATE TABLE resource_version (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  id             text NOT NULL,
  version_id     bigint NOT NULL,
  last_updated   timestamptz NOT NULL,
  deleted        boolean NOT NULL DEFAULT false,
  method         text NOT NULL, -- POST | PUT | PATCH | DELETE
  content        bytea,
  PRIMARY KEY (tenant_id, resource_type, id, version_id)
);
CREATE INDEX resource_version_type_time ON resource_version (tenant_id, resource_type, last_updated);
CREATE INDEX resource_version_time ON resource_version (tenant_id, last_updated);

-- Search index tables, one per parameter type. Rows belong to the current
-- version of a resource and are rewritten in the same transaction as it.
-- param is the search parameter code.

CREATE TABLE idx_string (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  value_norm     text NOT NULL, -- lower-cased, accents removed: for default (starts-with) and :contains
  value_exact    text NOT NULL  -- as found: for :exact
);
CREATE INDEX idx_string_lookup ON idx_string (tenant_id, resource_type, param, value_norm text_pattern_ops);
CREATE INDEX idx_string_owner ON idx_string (tenant_id, resource_type, resource_id);

CREATE TABLE idx_token (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  system         text,
  code           text,
  text_norm      text -- lower-cased display/text for :text
);
CREATE INDEX idx_token_lookup ON idx_token (tenant_id, resource_type, param, code, system);
CREATE INDEX idx_token_owner ON idx_token (tenant_id, resource_type, resource_id);

CREATE TABLE idx_date (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  low            timestamptz NOT NULL, -- -infinity when unbounded
  high           timestamptz NOT NULL  -- infinity when unbounded
);
CREATE INDEX idx_date_low ON idx_date (tenant_id, resource_type, param, low);
CREATE INDEX idx_date_high ON idx_date (tenant_id, resource_type, param, high);
CREATE INDEX idx_date_owner ON idx_date (tenant_id, resource_type, resource_id);

CREATE TABLE idx_reference (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  target_type    text,
  target_id      text,
  url            text,
  version        text,
  identifier_system text,
  identifier_value  text
);
CREATE INDEX idx_reference_lookup ON idx_reference (tenant_id, resource_type, param, target_id, target_type);
CREATE INDEX idx_reference_url ON idx_reference (tenant_id, resource_type, param, url) WHERE url IS NOT NULL;
CREATE INDEX idx_reference_owner ON idx_reference (tenant_id, resource_type, resource_id);

CREATE TABLE idx_number (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  value          numeric NOT NULL,
  low            numeric NOT NULL,
  high           numeric NOT NULL
);
CREATE INDEX idx_number_lookup ON idx_number (tenant_id, resource_type, param, value);
CREATE INDEX idx_number_owner ON idx_number (tenant_id, resource_type, resource_id);

CREATE TABLE idx_quantity (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  value          numeric NOT NULL,
  low            numeric NOT NULL,
  high           numeric NOT NULL,
  system         text,
  code           text,
  unit           text
);
CREATE INDEX idx_quantity_lookup ON idx_quantity (tenant_id, resource_type, param, code, value);
CREATE INDEX idx_quantity_owner ON idx_quantity (tenant_id, resource_type, resource_id);

CREATE TABLE idx_uri (
  tenant_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  param          text NOT NULL,
  value          text NOT NULL
);
CREATE INDEX idx_uri_lookup ON idx_uri (tenant_id, resource_type, param, value text_pattern_ops);
CREATE INDEX idx_uri_owner ON idx_uri (tenant_id, resource_type, resource_id);

-- OAuth clients (SMART Backend Services). jwks holds the client's public keys.
CREATE TABLE oauth_client (
  tenant_id      text NOT NULL,
  client_id      text NOT NULL,
  name           text NOT NULL,
  jwks           jsonb NOT NULL,
  scopes         text NOT NULL, -- space-separated scopes the client may be granted
  is_admin       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  disabled       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, client_id)
);

-- Client assertion jti values seen, for replay detection (kept until expiry).
CREATE TABLE oauth_jti (
  tenant_id      text NOT NULL,
  client_id      text NOT NULL,
  jti            text NOT NULL,
  expires_at     timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, client_id, jti)
);
CREATE INDEX oauth_jti_expiry ON oauth_jti (expires_at);

-- Haven's own token-signing keys (private JWK). The encryption issue moves
-- private material under envelope encryption.
CREATE TABLE signing_key (
  tenant_id      text NOT NULL,
  kid            text NOT NULL,
  alg            text NOT NULL,
  private_jwk    jsonb NOT NULL,
  public_jwk     jsonb NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  retired_at     timestamptz,
  PRIMARY KEY (tenant_id, kid)
);
