import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { CompiledQuery, ResourceReader, StoredResource, StoreTransaction } from '../../store/index.js';
import type { FhirDeps } from './deps.js';

/** Matches found ahead of time by `prefetchConditionals`, keyed by `Type?criteria`. */
export type ConditionalCache = ReadonlyMap<string, StoredResource[]>;

const bare = (criteria: string) => (criteria.startsWith('?') ? criteria.slice(1) : criteria);
const cacheKey = (type: string, criteria: string) => `${type}?${bare(criteria)}`;

/**
 * The criteria as search parameters. `_contained=true|both` is refused: its matches are containers
 * of other types or contained resources, neither of which is the resource of this type to create,
 * update, delete or reference.
 */
function searchParams(criteria: string): [string, string][] {
  const params = [...new URLSearchParams(bare(criteria))];
  if (params.some(([k, v]) => k === '_contained' && v !== 'false' && v !== '')) {
    throw new HavenError('incorrect', 'CONDITIONAL_CONTAINED', 'Conditional criteria cannot use _contained=true or both: a contained match is not a resource to act on', { expression: ['_contained'] });
  }
  return [...params, ['_count', '2']];
}

/**
 * The lock key of a conditional create's (or update's) criteria: tenant, type and the parameters
 * in a fixed order, so that `a=1&b=2` and `b=2&a=1` serialize on the same key.
 */
function conditionKey(tenant: string, type: string, criteria: string): string {
  const pairs = [...new URLSearchParams(bare(criteria))].map(([k, v]) => `${k}=${v}`).sort();
  // Only hashed, but in PostgreSQL text: a NUL (refused by the search that follows) must not fail here first.
  return `${tenant}|${type}?${pairs.join('&')}`.replaceAll('\u0000', '\\0');
}

/**
 * Serializes conditional creates (and conditional updates, which create when nothing matches) on
 * their criteria until the transaction ends, then lets the caller search: a second request with the
 * same criteria waits for the first to commit and then finds what it created (READ COMMITTED: each
 * statement after the lock sees it), where both used to find nothing and both create.
 */
export async function serializeConditions(tx: StoreTransaction, ctx: RequestContext, conditions: { type: string; criteria: string }[]): Promise<void> {
  const keys = conditions.filter((c) => bare(c.criteria) !== '').map((c) => conditionKey(ctx.tenant, c.type, c.criteria));
  await tx.serialize(keys);
}

/**
 * Resolves the criteria of a conditional interaction (If-None-Exist, conditional
 * update/delete, conditional references) to at most one resource.
 * Several matches → 412, as the spec requires.
 */
export async function resolveConditional(
  deps: FhirDeps,
  ctx: RequestContext,
  tx: StoreTransaction,
  type: string,
  criteria: string,
  what: string,
  cache?: ConditionalCache,
): Promise<StoredResource | undefined> {
  const params = searchParams(criteria);
  if (params.length === 1) {
    throw new HavenError('incorrect', 'CONDITIONAL_NO_CRITERIA', `${what} needs search criteria`);
  }
  const entries = cache?.get(cacheKey(type, criteria)) ?? (await deps.searcher.search(ctx, tx, type, params, { strict: true })).entries;
  if (entries.length > 1) {
    throw new HavenError('precondition', 'CONDITIONAL_MULTIPLE_MATCHES', `${what}: the criteria match more than one ${type}`);
  }
  return entries[0];
}

// Only page statements of resource rows may share the UNION (same columns).
const RESOURCE_ROWS = /^\s*SELECT (r\.)?resource_type, (r\.)?id, (r\.)?version_id, (r\.)?last_updated, (r\.)?deleted, (r\.)?content\s+FROM\s/;

/**
 * Runs the searches of many conditions (a transaction's conditional creates,
 * updates, deletes and references) as ONE statement, through the ordinary
 * searcher: a reader that holds back each search's page statement until every
 * search has either reached it or finished, then sends them together
 * (`queryBatch`). A search that fails is left out of the cache, so the
 * entry-by-entry path repeats it and reports its error against its entry.
 * The caller must have authorized a search of every type.
 */
export async function prefetchConditionals(
  deps: FhirDeps,
  ctx: RequestContext,
  tx: StoreTransaction,
  wanted: { type: string; criteria: string }[],
): Promise<ConditionalCache> {
  const unique = new Map<string, { type: string; criteria: string }>();
  for (const w of wanted) if (bare(w.criteria) !== '') unique.set(cacheKey(w.type, w.criteria), w);
  const cache = new Map<string, StoredResource[]>();
  if (unique.size < 2 || !tx.queryBatch) return cache;
  const batch = holdingReader(ctx, tx, unique.size);
  await Promise.all(
    [...unique].map(async ([key, w]) => {
      try {
        const page = await deps.searcher.search(ctx, batch.reader, w.type, searchParams(w.criteria), { strict: true });
        cache.set(key, page.entries);
      } catch {
        // repeated, and reported, by the entry's own resolution
      } finally {
        batch.settled();
      }
    }),
  );
  return cache;
}

interface Held {
  compiled: CompiledQuery;
  resolve: (rows: StoredResource[]) => void;
  reject: (err: unknown) => void;
}

function holdingReader(ctx: RequestContext, tx: StoreTransaction, expected: number) {
  const held: Held[] = [];
  let settled = 0;
  let sent = false;
  const flush = () => {
    if (sent || held.length + settled < expected) return;
    sent = true;
    if (held.length === 0) return;
    tx.queryBatch!(ctx, held.map((h) => h.compiled)).then(
      (results) => held.forEach((h, i) => h.resolve(results[i]!)),
      (err: unknown) => held.forEach((h) => h.reject(err)),
    );
  };
  const reader: ResourceReader = {
    read: (c, type, id) => tx.read(c, type, id),
    peek: (c, type, id) => tx.peek(c, type, id),
    vread: (c, type, id, version) => tx.vread(c, type, id, version),
    history: (c, query) => tx.history(c, query),
    scalar: (c, compiled) => tx.scalar(c, compiled),
    rows: (c, compiled) => tx.rows(c, compiled),
    query(c, compiled) {
      if (sent || c !== ctx || !RESOURCE_ROWS.test(compiled.sql)) return tx.query(c, compiled);
      return new Promise<StoredResource[]>((resolve, reject) => {
        held.push({ compiled, resolve, reject });
        flush();
      });
    },
  };
  return {
    reader,
    settled() {
      settled += 1;
      flush();
    },
  };
}
