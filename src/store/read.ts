import type { BodyCodec } from './body-codec.js';
import type { Queryable } from './db.js';
import type { StoredResource } from './model.js';

export interface VersionRow {
  resource_type: string;
  id: string;
  version_id: string;
  last_updated: Date;
  deleted: boolean;
  method?: string;
  content: Buffer | null;
}

/**
 * Decodes a stored row (the one place PHI bodies are read back). Not async:
 * when the codec decodes at once (plaintext, or a cached key) so does this,
 * one promise and one await per read less; callers await the result.
 */
export function decodeRow(tenant: string, row: VersionRow, codec: BodyCodec): StoredResource | Promise<StoredResource> {
  const versionId = Number(row.version_id);
  if (row.content === null) return resourceOf(row, versionId, null);
  let json: string | Promise<string>;
  try {
    json = codec.decode({ tenant, resourceType: row.resource_type, id: row.id, versionId }, row.content);
  } catch (err) {
    return Promise.reject(err);
  }
  return typeof json === 'string' ? resourceOf(row, versionId, json) : json.then((j) => resourceOf(row, versionId, j));
}

function resourceOf(row: VersionRow, versionId: number, json: string | null): StoredResource {
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId,
    lastUpdated: row.last_updated,
    deleted: row.deleted,
    json,
    ...(row.method ? { method: row.method as StoredResource['method'] } : {}),
  };
}

/** The current version by id: one named statement (read-coalescer.ts sends it too; a name must keep one text). */
export const READ_CURRENT = {
  name: 'store.read',
  text: `SELECT resource_type, id, version_id, last_updated, deleted, content FROM resource
             WHERE tenant_id = $1 AND resource_type = $2 AND id = $3`,
};

export async function readCurrent(q: Queryable, tenant: string, type: string, id: string, codec: BodyCodec) {
  const res = await q.query<VersionRow>(READ_CURRENT, [tenant, type, id]);
  const row = res.rows[0];
  return row ? decodeRow(tenant, row, codec) : undefined;
}

export async function readVersion(q: Queryable, tenant: string, type: string, id: string, version: number, codec: BodyCodec) {
  const res = await q.query<VersionRow>(
    {
      name: 'store.vread',
      text: `SELECT resource_type, id, version_id, last_updated, deleted, method, content FROM resource_version
             WHERE tenant_id = $1 AND resource_type = $2 AND id = $3 AND version_id = $4`,
    },
    [tenant, type, id, version],
  );
  const row = res.rows[0];
  return row ? decodeRow(tenant, row, codec) : undefined;
}
