-- Custom SearchParameters created at run time, and the reindex jobs that index existing data for them
-- (docs/search.md, "Custom search parameters").
--
-- custom_search_param   one row per active custom SearchParameter of a tenant, written in the same transaction
--                       as the SearchParameter resource. SearchParameter resources carry no PHI, so the
--                       definition is kept in plaintext here for every node to load without the body codec.
--                       reindex_job is the job indexing existing data for it; NULL once that job completed.
-- search_param_version  a counter bumped by every change above; nodes compare it (short TTL) to their copy.
-- reindex_job           one row per reindex request; its tasks (one per resource type) live in job_task.

CREATE TABLE custom_search_param (
  tenant_id    text NOT NULL,
  url          text NOT NULL,
  resource_id  text NOT NULL,
  code         text NOT NULL,
  base         text[] NOT NULL,
  definition   jsonb NOT NULL,
  reindex_job  text,
  PRIMARY KEY (tenant_id, url)
);
CREATE UNIQUE INDEX custom_search_param_resource ON custom_search_param (tenant_id, resource_id);

CREATE TABLE search_param_version (
  tenant_id  text PRIMARY KEY,
  version    bigint NOT NULL
);

CREATE TABLE reindex_job (
  tenant_id     text NOT NULL,
  job_id        text NOT NULL,
  types         text[] NOT NULL,
  params        text[],          -- NULL: every parameter of the types
  status        text NOT NULL,   -- running | completed | failed
  total         bigint NOT NULL,
  not_before    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  PRIMARY KEY (tenant_id, job_id)
);

-- Per-task resume point: the last resource id of the last committed batch.
CREATE TABLE reindex_cursor (
  tenant_id      text NOT NULL,
  job_id         text NOT NULL,
  resource_type  text NOT NULL,
  last_id        text NOT NULL,
  done           bigint NOT NULL,
  PRIMARY KEY (tenant_id, job_id, resource_type)
);
