import type { IndexValue } from '../fhir/index-values.js';
import type { Queryable } from './db.js';
import { blindRows, dropCoveredTags, type BlindRow, type BlindRowOptions, type BlindSeen } from './blind-rows.js';
import type { BlindIndexer, BlindTagger } from '../crypto/blind-index.js';
import { deleteRows, insertRows, layout, params, patientTokenColumns, syncContained, syncRows, type Columns, type Owners } from './index-sql.js';
import { patientTokenRows } from './patient-token-rows.js';
import type { ContainedRow } from './contained.js';

/**
 * Writes the search-index rows of resources. The ONE place index values reach
 * the database: blind indexing of protected parameters (encryption issue)
 * plugs in here, through `IndexValueTransform`.
 */
export interface IndexedResource {
  resourceType: string;
  id: string;
  values: IndexValue[];
}

/** Hook for protecting values before they are stored (e.g. HMAC blind indexes). */
export type IndexValueTransform = (tenant: string, resourceType: string, value: IndexValue) => IndexValue;

/**
 * One index row, in the table's layout order: the parameter, its columns,
 * the composite group last. Built directly (no spread of a column array):
 * ~170 values per HL7 v2 message go through here.
 */
function rowOf(v: IndexValue, normalize: (s: string) => string): (string | null)[] {
  const g = v.group === undefined ? null : String(v.group);
  switch (v.type) {
    case 'string':
      return [v.param, normalize(v.value), v.value, null, g];
    case 'token':
      return [v.param, v.system, v.code, v.text === null ? null : normalize(v.text), null, g];
    case 'date':
      return [v.param, v.low ?? '-infinity', v.high ?? 'infinity', g];
    case 'reference':
      return [v.param, v.targetType, v.targetId, v.url, v.version, v.identifierSystem, v.identifierValue, null, g];
    case 'number':
      return [v.param, v.value, v.low, v.high, g];
    case 'quantity':
      return [v.param, v.value, v.low, v.high, v.system, v.code, v.unit, v.canonValue ?? null, v.canonCode ?? null, g];
    case 'uri':
      return [v.param, v.value, g];
  }
}

export interface IndexWriterOptions {
  normalize: (s: string) => string;
  transform?: IndexValueTransform;
  /** Blind indexes: protected parameters are written as HMAC tags only (docs/security/encryption.md). */
  blind?: BlindRowOptions & { indexer: BlindIndexer };
}

/**
 * Per table, per resource: `[resourceType, id, [[param, ...columns, grp], …]]`,
 * the jsonb a statement reads (see `insert`).
 */
type ResourceRows = [string, string, (string | null)[][]];
type Rows = Map<IndexValue['type'], ResourceRows[]>;

/** A batch's rows: per parameter table, and the patient-keyed tokens (patient-token-rows.ts). */
interface BatchRows {
  tables: Rows;
  patientTokens: ResourceRows[];
}

/**
 * A row as a set key: `V`+value+NUL per column, `N` for null (text never
 * holds NUL, so no two rows share a key).
 */
function rowKey(row: (string | null)[]): string {
  let k = '';
  for (const c of row) k += c === null ? 'N' : `V${c}\u0000`;
  return k;
}

/** A resource whose stored index rows a write replaces (updated) or removes (deleted). */
export interface IndexOwner {
  resourceType: string;
  id: string;
}

/** WITH entries (`name AS (…)`) with their own placeholders from `$1`, for the caller's statement. */
export interface IndexWrite {
  entries: string[];
  params: unknown[];
}

/**
 * Which of a resource's rows `insert` writes: a reindex job for some parameters
 * writes their parameter-table rows from its filtered values, and the
 * patient-keyed tokens, which pair two parameters' values, from all of them.
 */
export interface InsertScope {
  tables?: false;
  patientTokens?: false;
}

export function createIndexWriter(options: IndexWriterOptions) {
  /**
   * Appends `row` to the resource's entry of its table (`mine`: the entries of
   * this resource so far). A row the resource already has (two values
   * extracting to the same row) is dropped when `seen` is given, so a
   * resource's stored rows are a set, which a diffed update compares with
   * the new ones; blind string and token rows come unique from blindRows.
   */
  function push(buckets: Rows, mine: Map<IndexValue['type'], ResourceRows>, r: IndexedResource, type: IndexValue['type'], row: (string | null)[], seen: Set<string> | null): void {
    if (seen) {
      const k = `${type}\u0000${rowKey(row)}`;
      if (seen.has(k)) return;
      seen.add(k);
    }
    let entry = mine.get(type);
    if (!entry) {
      entry = [r.resourceType, r.id, []];
      mine.set(type, entry);
      let table = buckets.get(type);
      if (!table) buckets.set(type, (table = []));
      table.push(entry);
    }
    entry[2].push(row);
  }

  /** The rows of one batch; `tag` is set when blind indexing is on, and only valid during this call. */
  function collect(tenant: string, resources: IndexedResource[], tag: BlindTagger | null): BatchRows {
    const buckets: Rows = new Map();
    const patientTokens: ResourceRows[] = [];
    const blind = options.blind;
    const transform = options.transform;
    const normalize = options.normalize;
    for (const r of resources) {
      const seen: BlindSeen = new Map();
      const rows = new Set<string>();
      const mine = new Map<IndexValue['type'], ResourceRows>();
      const blinded: BlindRow[] = [];
      for (const raw of r.values) {
        const v = transform ? transform(tenant, r.resourceType, raw) : raw;
        const protectedRows = tag && blind ? blindRows(r.resourceType, v, tag, blind, seen) : null;
        if (protectedRows) {
          for (const b of protectedRows) blinded.push(b);
          continue;
        }
        push(buckets, mine, r, v.type, rowOf(v, normalize), rows);
      }
      // Only after every value of the resource: whether a narrower parameter holds a tag depends on all of them.
      for (const b of dropCoveredTags(r.resourceType, blinded)) push(buckets, mine, r, b.type, b.row, b.type === 'reference' ? rows : null);
      const keyed = patientTokenRows(mine.get('token')?.[2], mine.get('reference')?.[2]);
      if (keyed.length > 0) patientTokens.push([r.resourceType, r.id, keyed]);
    }
    return { tables: buckets, patientTokens };
  }

  function rowsOf(tenant: string, resources: IndexedResource[]): Promise<BatchRows> | BatchRows {
    const blind = options.blind;
    return blind ? blind.indexer.withTagger(tenant, (tag) => collect(tenant, resources, tag)) : collect(tenant, resources, null);
  }

  /**
   * Inserts index rows for many resources with one statement per index table
   * (reindexing, after it removed the old rows). Rows travel as one JSON
   * array of arrays: JSON.stringify is native and PostgreSQL parses JSON
   * fast, where the driver's array-literal escaping was a measurable share of
   * ingest time. The rows of one resource share one `[resourceType, id, rows]`
   * entry: a Patient has ~50 rows (blind prefix tags), and repeating its type
   * and id in each was ~40 % of the bytes. jsonb, not json: `->>` on json
   * re-parses the element for every column (~3 µs per row of PostgreSQL CPU),
   * jsonb is parsed once.
   */
  async function insert(tx: Queryable, tenant: string, resources: IndexedResource[], what: InsertScope = {}): Promise<void> {
    const rows = await rowsOf(tenant, resources);
    const tables: [Columns, ResourceRows[]][] = [];
    if (what.tables !== false) for (const [type, entries] of rows.tables) tables.push([layout[type], entries]);
    if (what.patientTokens !== false && rows.patientTokens.length > 0) tables.push([patientTokenColumns, rows.patientTokens]);
    for (const [columns, entries] of tables) await tx.query(insertRows(columns, '$1', '$2'), [tenant, JSON.stringify(entries)]);
  }

  /**
   * The index rows of one write batch, as WITH entries for the statement
   * that writes the resource rows: `fresh` are the rows of every resource
   * written live (its last version in the batch), `owners` the resources
   * whose stored rows the batch replaces (they were live before it). An
   * owner's stored rows change only where they differ from its fresh ones
   * (src/store/index-sql.ts, syncRows): an update that repeats most values
   * (an HL7 ADT^A08, a re-sent message) no longer deletes and rewrites
   * every row, each costing index descents and WAL. A table holding no fresh
   * rows loses all of the owners' rows there, as before. `contained` names
   * the contained resources of the fresh containers (their index entries are
   * in `fresh` under their keys, src/store/contained.ts): an owner's rows
   * include its contained resources', and its `contained_resource` rows are
   * replaced in the same statement.
   */
  async function plan(tenant: string, fresh: IndexedResource[], owners: IndexOwner[], contained: ContainedRow[] = []): Promise<IndexWrite> {
    const batch = await rowsOf(tenant, fresh);
    const p = params();
    const t = p.add(tenant);
    const keys: Owners | null = owners.length === 0 ? null : { types: p.add(owners.map((o) => o.resourceType)), ids: p.add(owners.map((o) => o.id)) };
    const entries: string[] = [];
    const tables: [string, Columns, ResourceRows[] | undefined][] = (Object.keys(layout) as IndexValue['type'][]).map((type) => [type, layout[type], batch.tables.get(type)]);
    tables.push(['token_patient', patientTokenColumns, batch.patientTokens.length > 0 ? batch.patientTokens : undefined]);
    for (const [short, c, rows] of tables) {
      const name = `ix_${short}`;
      if (rows && keys) entries.push(...syncRows(c, name, t, keys, p.add(JSON.stringify(rows))));
      else if (rows) entries.push(`${name}_ins AS (${insertRows(c, t, p.add(JSON.stringify(rows)))})`);
      else if (keys) entries.push(`${name}_del AS (${deleteRows(c, t, keys)})`);
    }
    entries.push(...syncContained(t, keys, contained.length === 0 ? null : p.add(JSON.stringify(contained))));
    // No rows and no owners: nothing may reference the tenant placeholder either.
    return entries.length === 0 ? { entries, params: [] } : { entries, params: p.list };
  }

  return { insert, plan };
}

export type IndexWriter = ReturnType<typeof createIndexWriter>;
