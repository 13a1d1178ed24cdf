-- TOTP enrolment at sign-in (docs/security/identity.md, "Passwords, lockout, MFA"): a user who must pass
-- MFA but has no authenticator gets a new secret after a correct password. Until a valid code proves the
-- app holds it, the secret lives here, bound to that half-signed-in browser session: it goes with the
-- session (logout, new login, expiry), expires on its own, and belongs to one user.
CREATE TABLE totp_enrolment (
  tenant_id     text NOT NULL,
  session_hash  text NOT NULL,
  user_id       text NOT NULL,
  secret        bytea NOT NULL,              -- envelope-encrypted base32 secret, as app_user.totp_secret
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, session_hash),
  FOREIGN KEY (tenant_id, session_hash) REFERENCES auth_session (tenant_id, id_hash) ON DELETE CASCADE
);
