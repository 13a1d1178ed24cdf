-- TOTP recovery codes (docs/security/identity.md, "Recovery codes"): one-time codes a user keeps on paper
-- for the day the phone is lost. Shown once; only a scrypt hash is stored (the same `scrypt$N$r$p$salt$hash`
-- strings as passwords). The first four characters of a code also stand here in the clear as `selector`,
-- so a typed code is checked against one hash instead of all ten; the other twelve (60 random bits) stay
-- secret. A used code is deleted, in the statement that accepts it, so it works exactly once.
CREATE TABLE totp_recovery_code (
  tenant_id   text NOT NULL,
  user_id     text NOT NULL,
  selector    text NOT NULL,
  code_hash   text NOT NULL,
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, user_id, selector),
  FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, user_id) ON DELETE CASCADE
);
