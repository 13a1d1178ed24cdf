import type { IndexValue } from '../fhir/index-values.js';

/**
 * The SQL of index-row writes (src/store/index-writer.ts builds the rows).
 * Rows travel as one jsonb array per table, grouped per resource:
 * `[[resourceType, id, [[param, ...columns, grp], …]], …]`.
 */
export const INDEX_TABLES = ['idx_string', 'idx_token', 'idx_date', 'idx_reference', 'idx_number', 'idx_quantity', 'idx_uri'] as const;

/** Every table of index rows a resource owns: the parameter tables and the patient-keyed tokens. */
export const OWNED_INDEX_TABLES = [...INDEX_TABLES, 'idx_token_patient'] as const;

export interface Columns {
  table: (typeof OWNED_INDEX_TABLES)[number];
  names: string[];
  casts: string[];
  /** False for a table without the composite group column `grp` (the parameter tables all have it). */
  grouped?: false;
}

export const layout: Record<IndexValue['type'], Columns> = {
  // blind: HMAC tag of a blind-indexed parameter's value (migration 008, src/store/blind-rows.ts).
  string: { table: 'idx_string', names: ['value_norm', 'value_exact', 'blind'], casts: ['text', 'text', 'bytea'] },
  token: { table: 'idx_token', names: ['system', 'code', 'text_norm', 'blind'], casts: ['text', 'text', 'text', 'bytea'] },
  date: { table: 'idx_date', names: ['low', 'high'], casts: ['timestamptz', 'timestamptz'] },
  // grp is appended to every table's columns below (composite groups, migration 007).
  reference: {
    table: 'idx_reference',
    names: ['target_type', 'target_id', 'url', 'version', 'identifier_system', 'identifier_value', 'blind'],
    casts: ['text', 'text', 'text', 'text', 'text', 'text', 'bytea'],
  },
  number: { table: 'idx_number', names: ['value', 'low', 'high'], casts: ['numeric', 'numeric', 'numeric'] },
  quantity: {
    table: 'idx_quantity',
    names: ['value', 'low', 'high', 'system', 'code', 'unit', 'canon_value', 'canon_code'],
    casts: ['numeric', 'numeric', 'numeric', 'text', 'text', 'text', 'numeric', 'text'],
  },
  uri: { table: 'idx_uri', names: ['value'], casts: ['text'] },
};

/**
 * Patient-keyed tokens (migration 047, ADR 0010): a row is
 * `[param, system, code, patient_id, ref_params]`, ref_params as a sorted
 * array literal (src/store/patient-token-rows.ts builds them).
 */
export const patientTokenColumns: Columns = {
  table: 'idx_token_patient',
  names: ['system', 'code', 'patient_id', 'ref_params'],
  casts: ['text', 'text', 'text', 'text[]'],
  grouped: false,
};

/** Placeholders for one statement: `add` returns `$n` for a value it appends. */
export interface Params {
  list: unknown[];
  add(value: unknown): string;
}

export function params(): Params {
  const list: unknown[] = [];
  return { list, add: (value) => `$${list.push(value)}` };
}

/** Which resources' stored rows a write replaces: `(resource_type, resource_id)` pairs as two arrays. */
export interface Owners {
  types: string;
  ids: string;
}

/**
 * The keys whose rows the owners' write replaces: the owners' own, and those
 * of the contained resources their stored versions hold (migration 042,
 * src/store/contained.ts), which go or change with them.
 */
export function ownerKeys(tenant: string, o: Owners): string {
  return `SELECT * FROM UNNEST(${o.types}::text[], ${o.ids}::text[])
      UNION ALL SELECT c.resource_type, c.id FROM contained_resource c WHERE c.tenant_id = ${tenant}
        AND (c.container_type, c.container_id) IN (SELECT * FROM UNNEST(${o.types}::text[], ${o.ids}::text[]))`;
}

const target = (c: Columns) => `${c.table} (tenant_id, resource_type, resource_id, param, ${c.names.join(', ')}${c.grouped === false ? '' : ', grp'})`;

/** Text and bytea (tags travel as `\x` hex text) arrive as stored; other types are cast. */
const verbatim = (cast: string) => cast === 'text' || cast === 'bytea';

/** The stored columns of row element `e`, in `target` order after the owner. */
function typed(c: Columns, e: string): string[] {
  const casts = c.grouped === false ? c.casts : [...c.casts, 'integer'];
  return [`${e}->>0`, ...casts.map((cast, i) => `(${e}->>${i + 1})::${cast}`)];
}

/** Appends every row: creates, and reindexing. */
export function insertRows(c: Columns, tenant: string, rows: string): string {
  return `INSERT INTO ${target(c)}
    SELECT ${tenant}, r->>0, r->>1, ${typed(c, 'e').join(', ')} FROM jsonb_array_elements(${rows}::jsonb) AS r, jsonb_array_elements(r->2) AS e`;
}

/** Removes every row of the owners: deletes, and tables the new versions have no rows in. */
export function deleteRows(c: Columns, tenant: string, owners: Owners): string {
  return `DELETE FROM ${c.table} WHERE tenant_id = ${tenant}
    AND (resource_type, resource_id) IN (${ownerKeys(tenant, owners)})`;
}

/**
 * A row as a jsonb key that compares equal exactly when the stored row does,
 * built the same way from a sent element (`fromSent`) and from a stored row
 * (`fromStored`). For tables of text columns the sent element already is that
 * key (tags as `\x` hex, grp as text), so nothing is built per new row; dates
 * are compared as instants (`2020-01-01T00:00:00Z` and `2020-01-01 00:00:00+00`
 * are one) and numbers as the text of the stored numeric (scale included).
 */
function fromSent(c: Columns): string {
  if (c.casts.every(verbatim)) return 'e';
  const n = c.casts.length;
  const grp = c.grouped === false ? '' : `, e->>${n + 1}`;
  return `jsonb_build_array(e->>0, ${c.casts.map((cast, i) => sentAs(cast, `e->>${i + 1}`)).join(', ')}${grp})`;
}

function fromStored(c: Columns): string {
  const grp = c.grouped === false ? '' : ', grp::text';
  return `jsonb_build_array(param, ${c.names.map((name, i) => storedAs(c.casts[i]!, name)).join(', ')}${grp})`;
}

/** numeric as its text: 1.0 and 1.00 are equal numbers but different stored values. */
function sentAs(cast: string, value: string): string {
  if (verbatim(cast)) return value;
  return cast === 'numeric' ? `(${value})::numeric::text` : `(${value})::${cast}`;
}

function storedAs(cast: string, column: string): string {
  if (cast === 'bytea') return `'\\x' || encode(${column}, 'hex')`;
  return cast === 'numeric' ? `${column}::text` : column;
}

/**
 * WITH entries that make the owners' rows in one table equal to the sent
 * rows while touching only the difference: the stored rows no sent row
 * equals are deleted (by ctid, found once), the sent rows no stored row
 * equals are inserted. Sent rows of resources that are not owners (creates)
 * find no stored row and are all inserted. Both sides are materialized once
 * and matched by hash on (type, id, key); every entry sees the snapshot from
 * before the statement, so the INSERT never meets the rows the DELETE keeps
 * as new. The owners' current rows are locked by the caller (lockCurrent), so
 * no other writer changes their index rows between snapshot and delete.
 */
export function syncRows(c: Columns, name: string, tenant: string, owners: Owners, rows: string): string[] {
  const sent = `${name}_sent`;
  const stored = `${name}_stored`;
  const same = (a: string, b: string) => `${a}.rt = ${b}.rt AND ${a}.rid = ${b}.rid AND ${a}.k = ${b}.k`;
  return [
    `${sent} AS MATERIALIZED (SELECT r->>0 AS rt, r->>1 AS rid, e, ${fromSent(c)} AS k
       FROM jsonb_array_elements(${rows}::jsonb) AS r, jsonb_array_elements(r->2) AS e)`,
    `${stored} AS MATERIALIZED (SELECT ctid AS at, resource_type AS rt, resource_id AS rid, ${fromStored(c)} AS k FROM ${c.table}
       WHERE tenant_id = ${tenant} AND (resource_type, resource_id) IN (${ownerKeys(tenant, owners)}))`,
    `${name}_del AS (DELETE FROM ${c.table} WHERE ctid = ANY (ARRAY(
       SELECT o.at FROM ${stored} o WHERE NOT EXISTS (SELECT 1 FROM ${sent} n WHERE ${same('n', 'o')}))))`,
    `${name}_ins AS (INSERT INTO ${target(c)}
       SELECT ${tenant}, n.rt, n.rid, ${typed(c, 'n.e').join(', ')} FROM ${sent} n
       WHERE NOT EXISTS (SELECT 1 FROM ${stored} o WHERE ${same('o', 'n')}))`,
  ];
}

/**
 * WITH entries that make the owners' `contained_resource` rows those of their
 * new versions (`rows`: jsonb of ContainedRow, or null when none has any):
 * the rows no new version keeps are deleted, new ones inserted. A kept row is
 * neither deleted nor inserted twice (ON CONFLICT: it is already there).
 */
export function syncContained(tenant: string, owners: Owners | null, rows: string | null): string[] {
  const entries: string[] = [];
  if (owners) {
    const kept = rows === null ? '' : `
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(${rows}::jsonb) n WHERE n->>0 = c.resource_type AND n->>1 = c.id)`;
    entries.push(`contained_del AS (DELETE FROM contained_resource c WHERE c.tenant_id = ${tenant}
       AND (c.container_type, c.container_id) IN (SELECT * FROM UNNEST(${owners.types}::text[], ${owners.ids}::text[]))${kept})`);
  }
  if (rows !== null) {
    entries.push(`contained_ins AS (INSERT INTO contained_resource (tenant_id, resource_type, id, container_type, container_id, local_id)
       SELECT ${tenant}, n->>0, n->>1, n->>2, n->>3, n->>4 FROM jsonb_array_elements(${rows}::jsonb) n ON CONFLICT DO NOTHING)`);
  }
  return entries;
}
