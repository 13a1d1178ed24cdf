import type { Queryable } from '../store/index.js';
import type { IndexedResource } from '../store/index-writer.js';
import { indexedWithContained, type ContainedRow } from '../store/contained.js';
import { OWNED_INDEX_TABLES } from '../store/index-sql.js';
import type { FhirResource } from '../store/model.js';
import { saveCursor } from './job-store.js';
import type { ReindexDeps, ReindexJob } from './model.js';
import { loadCustomParams } from './param-sync.js';

interface RowRead {
  id: string;
  version_id: string;
  content: Buffer;
}

/**
 * Index rows of the job's parameters (all of them when the job names none) for these resources.
 * A full reindex also replaces the rows of the contained resources they hold, and the
 * `contained_resource` rows themselves (migration 042): containers stored before contained
 * resources were indexed gain them here. A job for some parameters leaves contained resources
 * alone; their container's next write, or a full reindex, brings the new parameters to them.
 */
async function removeRows(tx: Queryable, tenant: string, type: string, ids: string[], params: string[] | null): Promise<void> {
  for (const t of OWNED_INDEX_TABLES) {
    // Patient-keyed tokens pair a token with references: a job for some parameters rebuilds them whole (Extracted.whole).
    const only = t === 'idx_token_patient' ? null : params;
    await tx.query(
      `DELETE FROM ${t} WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = ANY($3::text[])
         AND ($4::text[] IS NULL OR param = ANY($4::text[]))`,
      [tenant, type, ids, only],
    );
    if (params !== null) continue;
    await tx.query(
      `DELETE FROM ${t} WHERE tenant_id = $1 AND (resource_type, resource_id) IN
         (SELECT resource_type, id FROM contained_resource WHERE tenant_id = $1 AND container_type = $2 AND container_id = ANY($3::text[]))`,
      [tenant, type, ids],
    );
  }
  if (params === null) await tx.query('DELETE FROM contained_resource WHERE tenant_id = $1 AND container_type = $2 AND container_id = ANY($3::text[])', [tenant, type, ids]);
}

async function insertContained(tx: Queryable, tenant: string, rows: ContainedRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO contained_resource (tenant_id, resource_type, id, container_type, container_id, local_id)
     SELECT $1, n->>0, n->>1, n->>2, n->>3, n->>4 FROM jsonb_array_elements($2::jsonb) n`,
    [tenant, JSON.stringify(rows)],
  );
}

/**
 * The job's parameters must be in this node's registry before anything is
 * extracted: otherwise the batch would replace their rows with nothing and
 * move the cursor past them for good. The copy lags the database until its
 * sync runs (the node that wrote the SearchParameter only learns it on its
 * next refresh; another node within its TTL), so a missing parameter reloads
 * the custom layer from the database. One still missing there was deleted:
 * removing its rows is then right.
 */
async function ensureJobParams(deps: ReindexDeps, job: ReindexJob, type: string): Promise<void> {
  if (job.params === null || job.params.every((code) => deps.registry.get(type, code) !== undefined)) return;
  await loadCustomParams(deps.db, deps.registry, job.tenant);
}

interface Extracted {
  /** The container's own entry, then its contained resources' (full reindex only). */
  indexed: IndexedResource[];
  contained: ContainedRow[];
  /** A job for some parameters: the container's entry with every value, for its patient-keyed tokens. */
  whole?: IndexedResource;
}

async function extractAll(deps: ReindexDeps, job: ReindexJob, type: string, rows: RowRead[]): Promise<Map<string, Extracted>> {
  const wanted = job.params === null ? null : new Set(job.params);
  const out = new Map<string, Extracted>();
  for (const r of rows) {
    const json = await deps.codec.decode({ tenant: job.tenant, resourceType: type, id: r.id, versionId: Number(r.version_id) }, r.content);
    const resource = JSON.parse(json) as FhirResource;
    const all = indexedWithContained(type, r.id, resource, deps.extract);
    if (wanted) {
      const own = all.indexed[0]!;
      out.set(r.id, { indexed: [{ ...own, values: own.values.filter((v) => wanted.has(v.param)) }], contained: [], whole: own });
    } else {
      out.set(r.id, all);
    }
  }
  return out;
}

/**
 * Reindexes the next keyset batch of `type` after `afterId`: reads and
 * re-extracts outside the transaction, then, in one transaction, locks the
 * rows (FOR SHARE: a concurrent write waits, or has already committed) and
 * rewrites the index rows only of resources still at the version that was
 * read. A resource written meanwhile has had its index rewritten by that
 * write, with the current parameters, so it is left alone. The cursor moves
 * in the same transaction, so a stopped job resumes after its last batch.
 * Returns the number of resources read, 0 when the type is done.
 */
export async function reindexBatch(deps: ReindexDeps, job: ReindexJob, type: string, afterId: string): Promise<number> {
  const read = await deps.db.query<RowRead>(
    `SELECT id, version_id, content FROM resource WHERE tenant_id = $1 AND resource_type = $2 AND id > $3 AND NOT deleted
     ORDER BY id LIMIT $4`,
    [job.tenant, type, afterId, deps.settings.batchSize],
  );
  if (read.rows.length === 0) return 0;
  await ensureJobParams(deps, job, type);
  const extracted = await extractAll(deps, job, type, read.rows);
  const readVersion = new Map(read.rows.map((r) => [r.id, r.version_id]));
  const lastId = read.rows[read.rows.length - 1]!.id;
  await deps.db.transaction(async (tx) => {
    const locked = await tx.query<{ id: string; version_id: string; deleted: boolean }>(
      `SELECT id, version_id, deleted FROM resource WHERE tenant_id = $1 AND resource_type = $2 AND id = ANY($3::text[])
       ORDER BY id FOR SHARE`,
      [job.tenant, type, read.rows.map((r) => r.id)],
    );
    const unchanged = new Set(locked.rows.filter((r) => !r.deleted && readVersion.get(r.id) === r.version_id).map((r) => r.id));
    const fresh = [...unchanged].map((id) => extracted.get(id)!);
    if (fresh.length > 0) {
      await removeRows(tx, job.tenant, type, [...unchanged], job.params);
      await insertContained(tx, job.tenant, fresh.flatMap((r) => r.contained));
      const wholes = fresh.flatMap((r) => (r.whole ? [r.whole] : []));
      if (wholes.length === 0) {
        await deps.indexWriter.insert(tx, job.tenant, fresh.flatMap((r) => r.indexed));
      } else {
        await deps.indexWriter.insert(tx, job.tenant, fresh.flatMap((r) => r.indexed), { patientTokens: false });
        await deps.indexWriter.insert(tx, job.tenant, wholes, { tables: false });
      }
    }
    await saveCursor(tx, job.tenant, job.jobId, type, lastId, read.rows.length);
  });
  return read.rows.length;
}
