-- Durable work queue and Bulk Data export (docs/bulk.md).
--
-- job_task   a generic queue: workers lease one task with FOR UPDATE SKIP LOCKED; a lease that
--            expires (its node died) makes the task available again; attempts and progress kept.
-- bulk_job   one $export (or $import) request: who asked (client id: only that client sees it), the snapshot
--            time (transactionTime), the kick-off parameters, status and expiry.
-- bulk_file  one encrypted NDJSON file in the blob store, written by one task (a retried task
--            replaces its file, never appends), with the patients whose data it holds.

CREATE TABLE job_task (
  tenant_id    text        NOT NULL,
  task_id      bigserial   NOT NULL,
  queue        text        NOT NULL,
  job_id       text        NOT NULL,
  seq          integer     NOT NULL,          -- order within the job (names its file)
  payload      jsonb       NOT NULL,
  status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  attempts     integer     NOT NULL DEFAULT 0,
  lease_owner  text,
  lease_until  timestamptz,
  progress     bigint      NOT NULL DEFAULT 0,
  last_error   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, task_id),
  UNIQUE (tenant_id, job_id, seq)
);
CREATE UNIQUE INDEX job_task_by_id ON job_task (task_id);
-- What workers scan: open tasks of a queue, oldest first.
CREATE INDEX job_task_open ON job_task (queue, task_id) WHERE status IN ('pending', 'running');

CREATE TABLE bulk_job (
  tenant_id        text        NOT NULL,
  job_id           text        NOT NULL,
  client_id        text        NOT NULL,
  subject          text        NOT NULL,
  status           text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'complete', 'failed', 'cancelled', 'expired')),
  level            text        NOT NULL CHECK (level IN ('system', 'patient', 'group', 'import')),
  request_url      text        NOT NULL,
  params           jsonb       NOT NULL,
  transaction_time timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  expires_at       timestamptz,
  last_poll_at     timestamptz,
  error            text,
  PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX bulk_job_expiry ON bulk_job (expires_at) WHERE status IN ('complete', 'failed');

CREATE TABLE bulk_file (
  tenant_id     text    NOT NULL,
  job_id        text    NOT NULL,
  seq           integer NOT NULL,
  kind          text    NOT NULL CHECK (kind IN ('output', 'error')),
  resource_type text    NOT NULL,
  blob_name     text    NOT NULL,
  count         bigint  NOT NULL,
  bytes         bigint  NOT NULL,
  patient_ids   text[]  NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, job_id, seq)
);
