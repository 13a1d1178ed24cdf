import type { BodyCodec } from './body-codec.js';
import type { Queryable } from './db.js';
import type { StoredResource } from './model.js';
import { decodeRow, type VersionRow } from './read.js';

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** Only versions updated after this instant. */
  since?: Date;
  /** Only versions that were current at some point during this (inclusive) period. */
  at?: { low: Date; high: Date };
  count: number;
  offset: number;
}

export interface HistoryPage {
  entries: StoredResource[];
  total: number;
  hasMore: boolean;
}

/**
 * History at instance, type or system level, newest first. `_at`: versions
 * that were "current at some point during the time period" (R4): created
 * at or before the period's end and not superseded by a later version
 * before its start. A partial date (`2024-03`) is the whole period it names.
 */
export async function readHistory(q: Queryable, tenant: string, query: HistoryQuery, codec: BodyCodec): Promise<HistoryPage> {
  const where = ['v.tenant_id = $1'];
  const params: unknown[] = [tenant];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (query.resourceType) add('v.resource_type = ?', query.resourceType);
  if (query.id) add('v.id = ?', query.id);
  if (query.since) add('v.last_updated > ?', query.since);
  let from = 'resource_version v';
  if (query.at) {
    params.push(query.at.high, query.at.low);
    const high = `$${params.length - 1}`;
    const low = `$${params.length}`;
    // Each version's successor (among those not after the period) tells when it stopped being current.
    from = `(SELECT *, lead(last_updated) OVER (PARTITION BY resource_type, id ORDER BY version_id) AS superseded_at
             FROM resource_version WHERE tenant_id = $1 AND last_updated <= ${high}) v`;
    where.push(`(v.superseded_at IS NULL OR v.superseded_at > ${low})`);
  }
  const filter = where.join(' AND ');
  const countRes = await q.query<{ n: string }>(`SELECT count(*) AS n FROM ${from} WHERE ${filter}`, params);
  const page = await q.query<VersionRow>(
    `SELECT v.resource_type, v.id, v.version_id, v.last_updated, v.deleted, v.method, v.content FROM ${from}
     WHERE ${filter} ORDER BY v.last_updated DESC, v.resource_type, v.id, v.version_id DESC
     LIMIT ${Number(query.count) + 1} OFFSET ${Number(query.offset)}`,
    params,
  );
  const rows = page.rows.slice(0, query.count);
  return {
    entries: await Promise.all(rows.map((r) => decodeRow(tenant, r, codec))),
    total: Number(countRes.rows[0]?.n ?? 0),
    hasMore: page.rows.length > query.count,
  };
}
