import { randomUUID } from 'node:crypto';
import { HavenError, type Clock, type RequestContext } from '../kernel/index.js';
import type { IndexValue } from '../fhir/index-values.js';
import type { BodyCodec } from './body-codec.js';
import type { Queryable } from './db.js';
import type { IndexOwner, IndexWrite, IndexWriter, IndexedResource } from './index-writer.js';
import { decodeRow, type VersionRow } from './read.js';
import { sameContent } from './same-content.js';
import { indexedWithContained, type ContainedRow } from './contained.js';
import { withEntries } from './statement-batch.js';
import type { FhirResource, StoreHooks, StoredResource, WriteOperation, WriteResult } from './model.js';

export interface WriteDeps {
  /** `container`: set for a contained resource (its `#id` references point into the container). */
  extract: (resource: FhirResource, container?: FhirResource) => IndexValue[];
  indexWriter: IndexWriter;
  codec: BodyCodec;
  clock: Clock;
  hooks: StoreHooks;
}

interface CurrentRow {
  version: number;
  deleted: boolean;
  /** The current version, body decoded: fetched only when an update targets the resource (no-op check). */
  stored?: StoredResource;
}

const key = (type: string, id: string) => `${type}/${id}`;

function targetOf(op: WriteOperation): { type: string; id: string } {
  if (op.kind === 'delete') return { type: op.resourceType, id: op.id };
  if (op.kind === 'update') return { type: op.resource.resourceType, id: op.id };
  return { type: op.resource.resourceType, id: op.id ?? randomUUID() };
}

/**
 * Locks the current rows of every target, so concurrent writers of one
 * resource serialize. The targets of updates also get their current body,
 * decoded, so that an update that changes nothing can be told (plan); creates
 * and deletes read no body (`CASE` leaves it unread, out-of-line TOAST too).
 */
async function lockCurrent(tx: Queryable, tenant: string, ops: WriteOperation[], targets: { type: string; id: string }[], codec: BodyCodec) {
  const wanted = new Map<string, { type: string; id: string; body: boolean }>();
  for (const [i, t] of targets.entries()) {
    const k = key(t.type, t.id);
    const body = ops[i]!.kind === 'update' || (wanted.get(k)?.body ?? false);
    wanted.set(k, { ...t, body });
  }
  const list = [...wanted.values()];
  // An update of a resource that does not exist yet creates it, and there is no row to lock: of
  // two transactions creating the same id at once, the second fails on the primary key, which the
  // API answers 409 DB_CONCURRENT_CONFLICT (retry). Serializing such ids with advisory locks and a
  // second look-up was correct but cost up to a third of timed ingest throughput (every new resource of a PUT
  // Bundle; bench/results/ingest-create-lock-2026-11-30.json), for a race between clients writing
  // the same new id at the same moment.
  const rows = await selectForUpdate(tx, tenant, list);
  const map = new Map<string, CurrentRow>();
  await Promise.all(
    rows.map(async (r) => {
      const row: CurrentRow = { version: Number(r.version_id), deleted: r.deleted };
      if (r.content !== null) row.stored = await decodeRow(tenant, r, codec);
      map.set(key(r.resource_type, r.id), row);
    }),
  );
  return map;
}

/**
 * The current rows of the ids a write touches, locked in key order (the ids sorted, each row locked
 * as its primary-key probe finds it), so two writers of the same resources wait instead of deadlocking.
 *
 * Written as a plain join of the ids with `resource`, the plan followed the statistics, and a new
 * store has none worth the name until its first ANALYZE (the maintenance round, which ran every 30 s
 * until 2026-12-03; autovacuum when on): PostgreSQL took `tenant_id = …` for 0.5 % of the rows and hashed
 * every resource of the tenant for each Bundle, 2,000 rows at first and 30,000 after 20 s of a bulk
 * load (25 ms per Bundle). Named, the statement also kept such a plan per connection once cached.
 * Each id's row is now looked up by its own probe in a LATERAL (one row at most: the whole primary
 * key is given), and the statement is sent unnamed, so it is planned with the table's current size
 * and never reuses a plan made when the table was tiny (a generic plan for a one-page table scans it).
 */
export const LOCK_CURRENT_SQL = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, CASE WHEN t.body AND NOT r.deleted THEN r.content END AS content
             FROM (SELECT * FROM UNNEST($2::text[], $3::text[], $4::boolean[]) AS u(resource_type, id, body) ORDER BY resource_type, id) t
             CROSS JOIN LATERAL (SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content FROM resource r
               WHERE r.tenant_id = $1 AND r.resource_type = t.resource_type AND r.id = t.id FOR UPDATE) r`;

async function selectForUpdate(tx: Queryable, tenant: string, list: { type: string; id: string; body: boolean }[]): Promise<VersionRow[]> {
  const res = await tx.query<VersionRow>(LOCK_CURRENT_SQL, [tenant, list.map((t) => t.type), list.map((t) => t.id), list.map((t) => t.body)]);
  return res.rows;
}

function checkIfMatch(ifMatch: number | undefined, current: CurrentRow | undefined, label: string): void {
  if (ifMatch === undefined) return;
  if (!current || current.deleted || current.version !== ifMatch) {
    throw new HavenError(
      'precondition',
      'VERSION_CONFLICT',
      `${label}: If-Match version ${ifMatch} does not match the current version${current ? ` ${current.version}` : ''}`,
    );
  }
}

/** The stored JSON: id and meta first, as servers conventionally emit them. */
function stamp(resource: FhirResource, id: string, version: number, lastUpdated: Date): FhirResource {
  const { resourceType, id: _ignored, meta, ...rest } = resource;
  return {
    resourceType,
    id,
    meta: { ...(meta ?? {}), versionId: String(version), lastUpdated: lastUpdated.toISOString() },
    ...rest,
  };
}

interface Planned {
  result: WriteResult;
  type: string;
  id: string;
  existedLive: boolean;
}

function plan(op: WriteOperation, target: { type: string; id: string }, current: CurrentRow | undefined, now: Date): Planned {
  const label = key(target.type, target.id);
  const live = current !== undefined && !current.deleted;
  const next = (current?.version ?? 0) + 1;
  if (op.kind === 'delete') {
    checkIfMatch(op.ifMatch, current, label);
    const stored: StoredResource = { resourceType: target.type, id: target.id, versionId: next, lastUpdated: now, deleted: true, json: null, method: 'DELETE' };
    return { result: { operation: 'delete', created: false, noop: !live, stored }, ...target, existedLive: live };
  }
  if (op.kind === 'create' && live) {
    throw new HavenError('conflict', 'RESOURCE_EXISTS', `${label} already exists`);
  }
  if (op.kind === 'update') checkIfMatch(op.ifMatch, current, label);
  const resource = stamp(op.resource, target.id, next, now);
  const method = op.kind === 'create' ? 'POST' : (op.method ?? 'PUT');
  if (op.kind === 'update' && live) {
    const unchanged = unchangedVersion(current, resource, method);
    if (unchanged) return { result: unchanged, ...target, existedLive: live };
  }
  const stored: StoredResource = { resourceType: target.type, id: target.id, versionId: next, lastUpdated: now, deleted: false, json: JSON.stringify(resource), method };
  return { result: { operation: op.kind, created: !live, noop: false, stored, resource }, ...target, existedLive: live };
}

/**
 * An update whose content equals the current version's (sameContent: the
 * server's versionId and lastUpdated aside) writes nothing: no version, no
 * current row, no index rows. Its result is the current version, flagged
 * `noop`, with the attempted method (the audit records an update attempt).
 * HL7 v2 feeds re-send whole patients (A08, A31), and a version per resend
 * would fill history with copies and cost two encrypted bodies and the index
 * sync each time.
 */
function unchangedVersion(current: CurrentRow, resource: FhirResource, method: StoredResource['method']): WriteResult | undefined {
  const s = current.stored;
  if (!s || s.json === null) return undefined;
  const was = JSON.parse(s.json) as FhirResource;
  if (!sameContent(was, resource)) return undefined;
  return { operation: 'update', created: false, noop: true, stored: { ...s, method }, resource: was };
}

/**
 * The one write path for resources: lock, version, stamp, index, encode and
 * store any number of writes with a fixed number of statements, then run the
 * in-transaction hooks (audit, outbox). Callers own the transaction.
 */
export async function applyWrites(tx: Queryable, ctx: RequestContext, ops: WriteOperation[], deps: WriteDeps): Promise<WriteResult[]> {
  for (const op of ops) for (const hook of deps.hooks.beforeWrite) await hook(ctx, op);
  const targets = ops.map(targetOf);
  const current = await lockCurrent(tx, ctx.tenant, ops, targets, deps.codec);
  const planned: Planned[] = [];
  for (const [i, op] of ops.entries()) {
    const t = targets[i]!;
    const p = plan(op, t, current.get(key(t.type, t.id)), deps.clock.now());
    planned.push(p);
    if (p.result.noop) continue;
    // A later write of the same resource in this batch builds on (and compares with) this one.
    const s = p.result.stored;
    current.set(key(t.type, t.id), { version: s.versionId, deleted: s.deleted, ...(s.deleted ? {} : { stored: s }) });
  }
  const effective = planned.filter((p) => !p.result.noop);
  // The index rows are not sent on their own: they join the row statement below.
  const index = await planIndexes(ctx.tenant, effective, deps);
  await persistRows(tx, ctx.tenant, effective, deps, index);
  const results = planned.map((p) => p.result);
  for (const hook of deps.hooks.afterWrite) await hook(ctx, tx, results);
  return results;
}

/**
 * Rows per statement: PostgreSQL's protocol takes at most 65,535 parameters, and a row takes 7
 * (a 10,000-entry transaction Bundle sent 70,001 and was refused). Batches this large are rare
 * (bulk loads of large Bundles); the usual batch stays one statement.
 */
const ROWS_PER_STATEMENT = 4096;

/**
 * Version rows, current rows and index rows in ONE statement (per 4,096 rows): the versions
 * are inserted from a VALUES list whose bodies travel as binary parameters
 * (arrays of buffers would be hex-encoded by the driver, doubling the bytes),
 * and the current table is upserted from what that insert returned, so each
 * body crosses the wire once. The index writer's DELETEs and INSERTs ride in
 * the WITH list: on this 2-core VM each round trip cost ~0.35 ms of server CPU
 * in socket writes alone, more than the work of most of those statements.
 * They run in this statement's snapshot, taken after lockCurrent: the stored
 * index rows they compare with are those of the last committed version.
 */
async function persistRows(tx: Queryable, tenant: string, rows: Planned[], deps: WriteDeps, index: IndexWrite): Promise<void> {
  if (rows.length === 0) return;
  // The index rows ride with the first part; every part runs in the caller's transaction, in order,
  // so a resource written twice across parts still ends with its last version current.
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    await persistPart(tx, tenant, rows.slice(start, start + ROWS_PER_STATEMENT), deps, start === 0 ? index : { entries: [], params: [] });
  }
}

async function persistPart(tx: Queryable, tenant: string, rows: Planned[], deps: WriteDeps, index: IndexWrite): Promise<void> {
  const params: unknown[] = [tenant];
  const tuples: string[] = [];
  for (const { result } of rows) {
    const s = result.stored;
    const content = s.json === null ? null : await deps.codec.encode({ tenant, resourceType: s.resourceType, id: s.id, versionId: s.versionId }, s.json);
    const at = params.length;
    params.push(s.resourceType, s.id, s.versionId, s.lastUpdated, s.deleted, s.method ?? 'PUT', content);
    tuples.push(`($1, $${at + 1}, $${at + 2}, $${at + 3}::bigint, $${at + 4}::timestamptz, $${at + 5}::boolean, $${at + 6}, $${at + 7}::bytea)`);
  }
  const riders = withEntries(index, params);
  // A batch may touch one resource twice: only its last version becomes current.
  await tx.query(
    `WITH ${riders.map((r) => `${r}, `).join('')}v AS (
       INSERT INTO resource_version (tenant_id, resource_type, id, version_id, last_updated, deleted, method, content)
       VALUES ${tuples.join(', ')}
       RETURNING tenant_id, resource_type, id, version_id, last_updated, deleted, content)
     INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, deleted, content)
     SELECT DISTINCT ON (resource_type, id) tenant_id, resource_type, id, version_id, last_updated, deleted, content
     FROM v ORDER BY resource_type, id, version_id DESC
     ON CONFLICT (tenant_id, resource_type, id) DO UPDATE SET version_id = EXCLUDED.version_id,
       last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, content = EXCLUDED.content`,
    params,
  );
}

/** The index rows of the batch: each live resource's rows at its last version, replacing those it had before. */
async function planIndexes(tenant: string, rows: Planned[], deps: WriteDeps): Promise<IndexWrite> {
  const owners: IndexOwner[] = [];
  const live = new Map<string, Planned>();
  const seen = new Set<string>();
  for (const p of rows) {
    const k = key(p.type, p.id);
    // Stored rows exist only for resources live before the batch: its first write of one says so
    // (later ones see the batch's own versions; all WITH entries see the snapshot from before it).
    if (!seen.has(k) && p.existedLive) owners.push({ resourceType: p.type, id: p.id });
    seen.add(k);
    if (p.result.resource) live.set(k, p);
    else live.delete(k);
  }
  const fresh: IndexedResource[] = [];
  const contained: ContainedRow[] = [];
  for (const p of live.values()) {
    const own = indexedWithContained(p.type, p.id, p.result.resource!, deps.extract);
    fresh.push(...own.indexed);
    contained.push(...own.contained);
  }
  return deps.indexWriter.plan(tenant, fresh, owners, contained);
}
