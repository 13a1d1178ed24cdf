-- Identity: SMART App Launch clients, users, browser sessions, authorization
-- codes, grants and refresh tokens. Every secret (session id, code, refresh
-- token, client secret, password) is stored as a hash only, so a copy of the
-- database does not let anyone act as a user or client.

-- App clients (SMART App Launch) beside the Backend Services clients.
ALTER TABLE oauth_client
  ADD COLUMN auth_method   text NOT NULL DEFAULT 'private_key_jwt'
    CHECK (auth_method IN ('none', 'client_secret_basic', 'private_key_jwt')),
  ADD COLUMN secret_hash   text,                        -- scrypt, for client_secret_basic
  ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}'; -- exact match only

-- id_tokens are signed RS256 (OpenID Connect's mandatory algorithm) with their own key series.
ALTER TABLE signing_key ADD COLUMN purpose text NOT NULL DEFAULT 'access-token'
  CHECK (purpose IN ('access-token', 'id-token'));

CREATE TABLE app_user (
  tenant_id        text NOT NULL,
  user_id          text NOT NULL,
  username         text NOT NULL,
  password_hash    text NOT NULL,                   -- scrypt$N$r$p$salt$hash
  roles            text[] NOT NULL DEFAULT '{}',
  plane            text NOT NULL CHECK (plane IN ('workforce', 'patient')),
  patient_id       text,                            -- the linked Patient (patient plane)
  totp_secret      bytea,                           -- envelope-encrypted base32 secret
  totp_last_step   bigint,                          -- last accepted TOTP time step: no replay
  failed_count     integer NOT NULL DEFAULT 0,
  locked_until     timestamptz,
  disabled         boolean NOT NULL DEFAULT false,
  external_issuer  text,                            -- federated users: the OpenID provider
  external_subject text,                            -- and its `sub`
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id),
  CHECK ((plane = 'patient') = (patient_id IS NOT NULL))
);
CREATE UNIQUE INDEX app_user_username ON app_user (tenant_id, lower(username));
CREATE UNIQUE INDEX app_user_external ON app_user (tenant_id, external_issuer, external_subject) WHERE external_issuer IS NOT NULL;

-- Browser sessions of the authorization server. user_id is NULL until login.
CREATE TABLE auth_session (
  tenant_id        text NOT NULL,
  id_hash          text NOT NULL,                   -- SHA-256 of the 256-bit cookie value
  user_id          text,
  mfa_done         boolean NOT NULL DEFAULT false,
  csrf             text NOT NULL,
  created_at       timestamptz NOT NULL,
  last_seen_at     timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,            -- absolute time-out
  PRIMARY KEY (tenant_id, id_hash)
);
CREATE INDEX auth_session_expiry ON auth_session (expires_at);

-- A validated /auth/authorize request waiting for login, MFA, patient choice and consent.
CREATE TABLE auth_request (
  tenant_id        text NOT NULL,
  id               text NOT NULL,
  session_hash     text NOT NULL,
  params           jsonb NOT NULL,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- EHR launch contexts registered by the EHR (admin API), referenced by `launch`.
CREATE TABLE launch_context (
  tenant_id        text NOT NULL,
  launch_id        text NOT NULL,
  context          jsonb NOT NULL,                  -- { patient, encounter, ... }
  created_by       text NOT NULL,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, launch_id)
);

-- One grant per authorization: the refresh-token family and every access token issued under it.
CREATE TABLE oauth_grant (
  tenant_id        text NOT NULL,
  grant_id         text NOT NULL,
  client_id        text NOT NULL,
  user_id          text NOT NULL,
  scopes           text NOT NULL,
  context          jsonb NOT NULL,                  -- launch context returned with tokens
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_reason   text,
  PRIMARY KEY (tenant_id, grant_id)
);
CREATE INDEX oauth_grant_revoked ON oauth_grant (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE auth_code (
  tenant_id        text NOT NULL,
  code_hash        text NOT NULL,
  grant_id         text NOT NULL,
  client_id        text NOT NULL,
  redirect_uri     text NOT NULL,
  code_challenge   text NOT NULL,
  nonce            text,
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  PRIMARY KEY (tenant_id, code_hash)
);

CREATE TABLE refresh_token (
  tenant_id        text NOT NULL,
  token_hash       text NOT NULL,
  grant_id         text NOT NULL,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  rotated_at       timestamptz,                     -- set when exchanged: a second use is reuse
  PRIMARY KEY (tenant_id, token_hash)
);
CREATE INDEX refresh_token_grant ON refresh_token (tenant_id, grant_id);

-- Revoked access tokens by jti (RFC 7009); revoked grants are in oauth_grant.
CREATE TABLE revoked_token (
  tenant_id        text NOT NULL,
  jti              text NOT NULL,
  revoked_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX revoked_token_time ON revoked_token (revoked_at);
