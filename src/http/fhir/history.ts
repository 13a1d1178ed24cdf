import { HavenError, type RequestContext } from '../../kernel/index.js';
import { requireId, requireType } from './checks.js';
import type { FhirDeps } from './deps.js';
import { bundleText, historyEntry, type BundleLink } from './bundle-json.js';
import { queryValue, type FhirRequest, type FhirResponse } from './types.js';
import { dateRange } from '../../fhir/index.js';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function instantParam(req: FhirRequest, name: string): Date | undefined {
  const raw = queryValue(req, name);
  if (raw === undefined) return undefined;
  // Instants, or whole dates (taken as their start, UTC).
  const date = new Date(raw);
  if ((!INSTANT.test(raw) && !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(raw)) || Number.isNaN(date.getTime())) {
    throw new HavenError('incorrect', 'HISTORY_BAD_INSTANT', `${name} must be a FHIR instant (e.g. 2024-01-01T00:00:00Z)`, { expression: [name] });
  }
  return date;
}

/** `_at`: a date, dateTime or instant, taken as the whole period its precision names. */
function periodParam(req: FhirRequest, name: string): { low: Date; high: Date } | undefined {
  const raw = queryValue(req, name);
  if (raw === undefined) return undefined;
  const range = dateRange(raw);
  if (!range?.low || !range.high || (raw.includes('T') && !/(Z|[+-]\d{2}:\d{2})$/.test(raw))) {
    throw new HavenError('incorrect', 'HISTORY_BAD_INSTANT', `${name} must be a FHIR date, or a dateTime with a time zone (e.g. 2024-01 or 2024-01-01T10:00:00Z)`, { expression: [name] });
  }
  return { low: new Date(range.low), high: new Date(range.high) };
}

function intParam(req: FhirRequest, name: string, fallback: number, max: number): number {
  const raw = queryValue(req, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new HavenError('incorrect', 'HISTORY_BAD_PARAM', `${name} must be a non-negative integer`, { expression: [name] });
  return Math.min(n, max);
}

/** History at system (path []), type ([Type]) or instance ([Type, id]) level. */
export async function history(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, defaultCount: number, maxCount: number): Promise<FhirResponse> {
  const segments = req.path.slice(0, req.path.indexOf('_history'));
  const resourceType = segments[0] === undefined ? undefined : requireType(deps, segments[0]);
  const id = segments[1] === undefined ? undefined : requireId(segments[1]);
  if (resourceType) deps.authorize(ctx, resourceType, 'read');
  else deps.authorizeSystem(ctx, 'read');
  const count = intParam(req, '_count', defaultCount, maxCount);
  const offset = intParam(req, '_offset', 0, Number.MAX_SAFE_INTEGER);
  const since = instantParam(req, '_since');
  const at = periodParam(req, '_at');
  const page = await deps.store.history(ctx, {
    count,
    offset,
    ...(resourceType ? { resourceType } : {}),
    ...(id ? { id } : {}),
    ...(since ? { since } : {}),
    ...(at ? { at } : {}),
  });
  // Unfiltered, an empty instance history means no such resource; with _since/_at it may just be an empty period.
  if (id && page.total === 0 && !since && !at) throw new HavenError('not-found', 'RESOURCE_NOT_FOUND', `${resourceType}/${id} is not known`);
  const path = [...segments, '_history'].join('/');
  const link = (relation: BundleLink['relation'], off: number): BundleLink => {
    const qs = req.query.filter(([k]) => k !== '_offset' && k !== '_count');
    qs.push(['_count', String(count)]);
    if (off > 0) qs.push(['_offset', String(off)]);
    return { relation, url: `${req.baseUrl}/${path}?${qs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` };
  };
  const links = [link('self', offset)];
  if (page.hasMore) links.push(link('next', offset + count));
  if (offset > 0) links.push(link('previous', Math.max(0, offset - count)));
  const entries = page.entries.map((s) => historyEntry(req.baseUrl, s, s.json));
  return { status: 200, headers: {}, body: bundleText('history', { total: page.total, links, entries, lastUpdated: new Date() }) };
}
