-- Search: composites, UCUM canonical quantities, reference :identifier (docs/adr/0003-composite-search.md).
--
-- grp       which element instance a value came from, for composite parameters only: all component
--           rows of one composite match carry the same (resource, composite param, grp). NULL for
--           ordinary parameters, so existing rows stay valid as they are.
-- canon_*   a UCUM quantity converted to base units (mg → g, mm[Hg] → g.m-1.s-2) at extraction, so
--           `5.4|http://unitsofmeasure.org|mg` finds 0.0054 g. NULL for non-UCUM units and for rows
--           written before this migration; those still match by their original unit.
-- All columns are nullable without default: ADD COLUMN is then a catalogue-only change, instant on
-- a table of any size. Rows written before this migration gain composite rows and canonical values
-- when their resource is next written (or reindexed).

ALTER TABLE idx_string    ADD COLUMN grp integer;
ALTER TABLE idx_token     ADD COLUMN grp integer;
ALTER TABLE idx_date      ADD COLUMN grp integer;
ALTER TABLE idx_reference ADD COLUMN grp integer;
ALTER TABLE idx_number    ADD COLUMN grp integer;
ALTER TABLE idx_quantity  ADD COLUMN grp integer;
ALTER TABLE idx_uri       ADD COLUMN grp integer;

ALTER TABLE idx_quantity ADD COLUMN canon_value numeric;
ALTER TABLE idx_quantity ADD COLUMN canon_code text;

CREATE INDEX idx_quantity_canon ON idx_quantity (tenant_id, resource_type, param, canon_code, canon_value)
  WHERE canon_code IS NOT NULL;

-- Reference :identifier (subject:identifier=system|value).
CREATE INDEX idx_reference_identifier ON idx_reference (tenant_id, resource_type, param, identifier_value, identifier_system)
  WHERE identifier_value IS NOT NULL;

