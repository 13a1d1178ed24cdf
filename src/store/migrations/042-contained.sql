-- Contained resources as search targets (`_contained=true|both`, R4 search 3.1.1.5.x).
-- A contained resource has no row of its own in `resource`: it lives inside its
-- container's content. Its search-index rows are stored under its own type and a
-- key no resource id can take, `<ContainerType>/<containerId>#<localId>` (R4 ids
-- are [A-Za-z0-9\-\.]{1,64}), so every existing search, which joins index rows to
-- `resource`, keeps ignoring them. This table names each contained resource of a
-- live container: the write path replaces a container's rows here and its
-- contained resources' index rows in the same statement as the container's own
-- (src/store/index-writer.ts), and contained searches run over the view below.
CREATE TABLE contained_resource (
  tenant_id       text NOT NULL,
  resource_type   text NOT NULL,
  id              text NOT NULL,
  container_type  text NOT NULL,
  container_id    text NOT NULL,
  local_id        text NOT NULL,
  PRIMARY KEY (tenant_id, resource_type, id)
);
CREATE INDEX contained_resource_container ON contained_resource (tenant_id, container_type, container_id);

-- A contained resource with its container's version columns: the compiled
-- search's WHERE clause (tenant, type, NOT deleted, `r.id IN (…)`) and sort
-- keys run over it unchanged.
CREATE VIEW contained_live AS
  SELECT c.tenant_id, c.resource_type, c.id, c.container_type, c.container_id, c.local_id,
         r.version_id, r.last_updated, r.deleted
  FROM contained_resource c
  JOIN resource r ON r.tenant_id = c.tenant_id AND r.resource_type = c.container_type AND r.id = c.container_id;
