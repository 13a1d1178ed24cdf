-- Access policies, just-in-time elevation and break-glass (docs/security/identity.md).

-- A role's policies: which resource types and interactions it grants, narrowed by
-- search criteria and with elements hidden. Once a tenant defines any role, every
-- workforce user token is limited to the policies of the user's roles.
CREATE TABLE access_role (
  tenant_id   text NOT NULL,
  name        text NOT NULL,
  definition  jsonb NOT NULL,                       -- { policies, breakGlass, approver }
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

-- Just-in-time elevation: a role for a bounded time, granted by a different user.
CREATE TABLE role_elevation (
  tenant_id    text NOT NULL,
  id           text NOT NULL,
  user_id      text NOT NULL,
  role         text NOT NULL,
  reason       text NOT NULL,
  minutes      integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
  status       text NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
  requested_at timestamptz NOT NULL,
  decided_by   text,
  decided_at   timestamptz,
  decision_note text,
  expires_at   timestamptz,                         -- set on approval: decided_at + minutes
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX role_elevation_user ON role_elevation (tenant_id, user_id, expires_at);

-- Break-glass: emergency access with a mandatory reason, time-boxed, alerted, reviewed.
CREATE TABLE break_glass (
  tenant_id   text NOT NULL,
  id          text NOT NULL,
  user_id     text NOT NULL,
  reason      text NOT NULL,
  started_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX break_glass_user ON break_glass (tenant_id, user_id, expires_at);

-- Security alerts for administrators (break-glass today), queued until reviewed.
CREATE TABLE security_alert (
  tenant_id   text NOT NULL,
  id          text NOT NULL,
  kind        text NOT NULL,
  severity    text NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
  user_id     text NOT NULL,
  ref_id      text,                                 -- e.g. the break_glass id
  reason      text,
  created_at  timestamptz NOT NULL,
  reviewed_by text,
  reviewed_at timestamptz,
  review_note text,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX security_alert_open ON security_alert (tenant_id, created_at) WHERE reviewed_at IS NULL;
