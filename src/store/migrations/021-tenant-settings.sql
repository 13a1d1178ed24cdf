-- Per-tenant settings that override the server-wide defaults (docs/security/identity.md, Sessions).
-- `settings` holds only the overridden members, e.g. {"sessionIdleMinutes": 5}; absent = the default.
CREATE TABLE tenant_setting (
  tenant_id   text PRIMARY KEY,
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL
);
