import type { IndexValue } from '../fhir/index-values.js';
import type { Queryable } from './db.js';
import { blindRows, dropCoveredTags, type BlindRow, type BlindRowOptions } from './blind-rows.js';
import type { BlindIndexer, BlindTagger } from '../crypto/blind-index.js';

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

const tables = ['idx_string', 'idx_token', 'idx_date', 'idx_reference', 'idx_number', 'idx_quantity', 'idx_uri'] as const;

interface Columns {
  table: (typeof tables)[number];
  names: string[];
  casts: string[];
}

const layout: Record<IndexValue['type'], Columns> = {
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

function columnsOf(v: IndexValue, normalize: (s: string) => string): (string | null)[] {
  switch (v.type) {
    case 'string':
      return [normalize(v.value), v.value, null];
    case 'token':
      return [v.system, v.code, v.text === null ? null : normalize(v.text), null];
    case 'date':
      return [v.low ?? '-infinity', v.high ?? 'infinity'];
    case 'reference':
      return [v.targetType, v.targetId, v.url, v.version, v.identifierSystem, v.identifierValue, null];
    case 'number':
      return [v.value, v.low, v.high];
    case 'quantity':
      return [v.value, v.low, v.high, v.system, v.code, v.unit, v.canonValue ?? null, v.canonCode ?? null];
    case 'uri':
      return [v.value];
  }
}

export interface IndexWriterOptions {
  normalize: (s: string) => string;
  transform?: IndexValueTransform;
  /** Blind indexes: protected parameters are written as HMAC tags only (docs/security/encryption.md). */
  blind?: BlindRowOptions & { indexer: BlindIndexer };
}

/** Per table, per resource: `[resourceType, id, [[param, ...columns, grp], …]]` (see `insert`). */
type ResourceRows = [string, string, (string | null)[][]];
type Rows = Map<IndexValue['type'], ResourceRows[]>;

export function createIndexWriter(options: IndexWriterOptions) {
  /** Removes the index rows of the given resources (before rewriting or on delete). */
  async function remove(tx: Queryable, tenant: string, resourceType: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // One statement at a time: a transaction is one connection.
    for (const t of tables) {
      await tx.query(`DELETE FROM ${t} WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = ANY($3::text[])`, [
        tenant,
        resourceType,
        ids,
      ]);
    }
  }

  /** Appends `row` to the resource's entry of its table (`mine`: the entries of this resource so far). */
  function push(buckets: Rows, mine: Map<IndexValue['type'], ResourceRows>, r: IndexedResource, type: IndexValue['type'], row: (string | null)[]): void {
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
  function collect(tenant: string, resources: IndexedResource[], tag: BlindTagger | null): Rows {
    const buckets: Rows = new Map();
    const blind = options.blind;
    for (const r of resources) {
      const seen = new Set<string>();
      const mine = new Map<IndexValue['type'], ResourceRows>();
      const blinded: BlindRow[] = [];
      for (const raw of r.values) {
        const v = options.transform ? options.transform(tenant, r.resourceType, raw) : raw;
        const protectedRows = tag && blind ? blindRows(r.resourceType, v, tag, blind, seen) : null;
        if (protectedRows) {
          for (const b of protectedRows) blinded.push(b);
          continue;
        }
        const group = v.group === undefined ? null : String(v.group);
        push(buckets, mine, r, v.type, [v.param, ...columnsOf(v, options.normalize), group]);
      }
      // Only after every value of the resource: whether a narrower parameter holds a tag depends on all of them.
      for (const b of dropCoveredTags(r.resourceType, blinded)) {
        push(buckets, mine, r, b.type, [b.param, ...b.columns, b.group === undefined ? null : String(b.group)]);
      }
    }
    return buckets;
  }

  /**
   * Inserts index rows for many resources with one statement per index table.
   * Rows travel as one JSON array of arrays: JSON.stringify is native and
   * PostgreSQL parses JSON fast, where the driver's array-literal escaping
   * was a measurable share of ingest time. The rows of one resource share one
   * `[resourceType, id, rows]` entry: a Patient has ~50 rows (blind prefix
   * tags), and repeating its type and id in each was ~40 % of the bytes.
   * jsonb, not json: `->>` on json re-parses the element for every column
   * (~3 µs per row of PostgreSQL CPU), jsonb is parsed once.
   */
  async function insert(tx: Queryable, tenant: string, resources: IndexedResource[]): Promise<void> {
    const blind = options.blind;
    const buckets = blind ? await blind.indexer.withTagger(tenant, (tag) => collect(tenant, resources, tag)) : collect(tenant, resources, null);
    for (const [type, rows] of buckets) {
      const { table, names, casts } = layout[type];
      const select = ['r->>0', 'r->>1', 'e->>0', ...[...casts, 'integer'].map((c, i) => `(e->>${i + 1})::${c}`)].join(', ');
      await tx.query(
        `INSERT INTO ${table} (tenant_id, resource_type, resource_id, param, ${names.join(', ')}, grp)
         SELECT $1, ${select} FROM jsonb_array_elements($2::jsonb) AS r, jsonb_array_elements(r->2) AS e`,
        [tenant, JSON.stringify(rows)],
      );
    }
  }

  return { remove, insert };
}

export type IndexWriter = ReturnType<typeof createIndexWriter>;
