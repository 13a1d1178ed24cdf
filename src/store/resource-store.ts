import { HavenError, type Clock, type RequestContext } from '../kernel/index.js';
import type { IndexValue } from '../fhir/index-values.js';
import type { BodyCodec } from './body-codec.js';
import type { Db, Queryable, StableSql } from './db.js';
import { readHistory, type HistoryPage, type HistoryQuery } from './history.js';
import type { IndexWriter } from './index-writer.js';
import type { FhirResource, StoreHooks, StoredResource, WriteOperation, WriteResult } from './model.js';
import { decodeRow, readCurrent, readVersion, type VersionRow } from './read.js';
import { createReadCoalescer, type ReadCoalescer } from './read-coalescer.js';
import { serializeOn } from './serialize.js';
import { applyWrites } from './write.js';

/** A compiled query selecting resource rows (resource_type, id, version_id, last_updated, deleted, content). */
export interface CompiledQuery {
  sql: string;
  params: unknown[];
  /** Its plan does not depend on its values (src/search/plan-stability.ts): it may be planned generically. */
  stablePlan?: true;
}

/** The statement as the search connections take it: generic-planned only when it is plan-stable. */
function statementOf(compiled: CompiledQuery): string | StableSql {
  return compiled.stablePlan ? { stablePlan: true, text: compiled.sql } : compiled.sql;
}

/** Everything a unit of work can do; the same surface inside and outside a transaction. */
export interface ResourceReader {
  /** Current version; throws not-found, or gone when deleted. */
  read(ctx: RequestContext, type: string, id: string): Promise<StoredResource>;
  /** Current version or undefined (deleted included, flagged), without hooks or errors. */
  peek(ctx: RequestContext, type: string, id: string): Promise<StoredResource | undefined>;
  vread(ctx: RequestContext, type: string, id: string, version: number): Promise<StoredResource>;
  history(ctx: RequestContext, query: HistoryQuery): Promise<HistoryPage>;
  /** Runs a compiled search and decodes its rows. */
  query(ctx: RequestContext, compiled: CompiledQuery): Promise<StoredResource[]>;
  /**
   * Runs several compiled searches (each selecting resource rows) as ONE
   * statement and returns each one's rows; the read hooks run once for all.
   * Optional so wrappers built before it need not forward it.
   */
  queryBatch?(ctx: RequestContext, compiled: CompiledQuery[]): Promise<StoredResource[][]>;
  /** Runs a compiled scalar query (counts). */
  scalar(ctx: RequestContext, compiled: CompiledQuery): Promise<number>;
  /** Runs a compiled query returning non-PHI rows (plans, estimates). */
  rows(ctx: RequestContext, compiled: CompiledQuery): Promise<Record<string, unknown>[]>;
}

export interface StoreTransaction extends ResourceReader {
  write(ctx: RequestContext, ops: WriteOperation[]): Promise<WriteResult[]>;
  /**
   * Waits until no other transaction holds any of `keys`, then holds them until this one ends
   * (PostgreSQL advisory transaction locks, taken in sorted order so two callers cannot deadlock
   * on them). Conditional creates serialize on their criteria with it: two "create if none exists"
   * for the same criteria would otherwise both see none and both create.
   */
  serialize(keys: string[]): Promise<void>;
}


export interface ResourceStore extends ResourceReader {
  /** One write in its own transaction. */
  write(ctx: RequestContext, op: WriteOperation): Promise<WriteResult>;
  /** Explicit transaction: inside `work` use only `tx`. */
  transaction<T>(ctx: RequestContext, work: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  readonly hooks: StoreHooks;
}

export interface ResourceStoreDeps {
  db: Db;
  /** Where compiled searches run outside a transaction (Db.search); default `db`. */
  searchDb?: Queryable;
  codec: BodyCodec;
  indexWriter: IndexWriter;
  /** `container`: set for a contained resource (its `#id` references point into the container). */
  extract: (resource: FhirResource, container?: FhirResource) => IndexValue[];
  clock: Clock;
  hooks: StoreHooks;
}

// Searches are planned generically only when their plan cannot depend on their
// values (plan-stability.ts): after five executions PostgreSQL may switch a
// named statement to a generic plan, which cannot see that a patient's
// Observations are few and a LOINC code's are many; measured at 1M resources,
// the generic plan of Observation?patient&code took 2.6 s, the custom one
// 0.8 ms. Outside transactions they run on Db.search, named, custom-planned or,
// when plan-stable, generic-planned (search-connections.ts); inside, unnamed on
// the transaction.

/**
 * The searches as one UNION ALL, each row tagged with its search's index.
 * Append keeps each branch's rows in its own ORDER BY order.
 */
function unionOf(compiled: CompiledQuery[]): CompiledQuery {
  const params: unknown[] = [];
  const branches = compiled.map((c, k) => {
    const offset = params.length;
    params.push(...c.params);
    const sql = c.sql.replace(/\$(\d+)/g, (_m, n: string) => `$${Number(n) + offset}`);
    return `(SELECT ${k}::int AS batch_k, b.* FROM (${sql}) b)`;
  });
  return { sql: branches.join('\nUNION ALL\n'), params };
}

export function createResourceStore(deps: ResourceStoreDeps): ResourceStore {
  const { codec, hooks } = deps;

  async function afterRead(ctx: RequestContext, found: StoredResource[]): Promise<void> {
    for (const hook of hooks.afterRead) await hook(ctx, found);
  }

  /**
   * `s`: where compiled searches (pages, include rounds, counts) run; reads by id stay on `q`,
   * coalesced with concurrent ones when `byId` is given (outside transactions).
   */
  function reader(q: Queryable, s: Queryable = q, byId?: ReadCoalescer): ResourceReader {
    const current = byId
      ? async (tenant: string, type: string, id: string) => {
          const row = await byId.read(tenant, type, id);
          return row ? decodeRow(tenant, row, codec) : undefined;
        }
      : (tenant: string, type: string, id: string) => readCurrent(q, tenant, type, id, codec);
    return {
      async read(ctx, type, id) {
        const found = await current(ctx.tenant, type, id);
        if (!found) throw new HavenError('not-found', 'RESOURCE_NOT_FOUND', `${type}/${id} is not known`);
        if (found.deleted) throw new HavenError('gone', 'RESOURCE_DELETED', `${type}/${id} has been deleted`);
        await afterRead(ctx, [found]);
        return found;
      },
      peek: (ctx, type, id) => current(ctx.tenant, type, id),
      async vread(ctx, type, id, version) {
        const found = await readVersion(q, ctx.tenant, type, id, version, codec);
        if (!found) throw new HavenError('not-found', 'VERSION_NOT_FOUND', `${type}/${id}/_history/${version} is not known`);
        if (found.deleted) throw new HavenError('gone', 'RESOURCE_DELETED', `${type}/${id} version ${version} is a deletion`);
        await afterRead(ctx, [found]);
        return found;
      },
      async history(ctx, query) {
        const page = await readHistory(q, ctx.tenant, query, codec);
        await afterRead(ctx, page.entries);
        return page;
      },
      async query(ctx, compiled) {
        const res = await s.query<VersionRow>(statementOf(compiled), compiled.params);
        const found = await Promise.all(res.rows.map((r) => decodeRow(ctx.tenant, r, codec)));
        await afterRead(ctx, found);
        return found;
      },
      async queryBatch(ctx, compiled) {
        const { sql, params } = unionOf(compiled);
        const res = await s.query<VersionRow & { batch_k: number }>(sql, params);
        const out: StoredResource[][] = compiled.map(() => []);
        const decoded = await Promise.all(res.rows.map((r) => decodeRow(ctx.tenant, r, codec)));
        res.rows.forEach((r, i) => out[r.batch_k]!.push(decoded[i]!));
        await afterRead(ctx, decoded);
        return out;
      },
      async scalar(_ctx, compiled) {
        const res = await s.query<Record<string, unknown>>(compiled.sql, compiled.params);
        const first = res.rows[0];
        return first ? Number(Object.values(first)[0]) : 0;
      },
      // Estimates, value-set and contained look-ups are search statements too: on the search connections they are
      // parsed once per connection. The `_has` estimate: 0.43-0.47 -> 0.37-0.40 ms of backend CPU at 3,000 patients
      // (bench/results/search-statement-cpu-2026-12-05-has-estimate*.json), 0.60-0.77 -> 0.40-0.57 ms at 1M.
      async rows(_ctx, compiled) {
        return (await s.query<Record<string, unknown>>(compiled.sql, compiled.params)).rows;
      },
    };
  }

  const writeDeps = { extract: deps.extract, indexWriter: deps.indexWriter, codec, clock: deps.clock, hooks };

  return {
    ...reader(deps.db, deps.searchDb ?? deps.db, createReadCoalescer(deps.db)),
    hooks,
    async write(ctx, op) {
      const [result] = await deps.db.transaction((tx) => applyWrites(tx, ctx, [op], writeDeps));
      return result!;
    },
    transaction(ctx, work) {
      return deps.db.transaction((tx) =>
        work({ ...reader(tx), write: (c, ops) => applyWrites(tx, c, ops, writeDeps), serialize: (keys) => serializeOn(tx, keys) }),
      );
    },
  };
}
