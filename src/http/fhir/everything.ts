import { parseInstant } from '../../bulk/index.js';
import { requireScope, scopeAllows } from '../../auth/index.js';
import { CARE_DATE_PARAMS, dateRange, type Compartments } from '../../fhir/index.js';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import { bundleText, searchEntry, type BundleLink } from './bundle-json.js';
import { requireId } from './checks.js';
import type { FhirDeps } from './deps.js';
import { shapeForOutput } from './respond.js';
import { queryValue, type FhirRequest, type FhirResponse } from './types.js';

export interface EverythingOptions {
  compartments: Compartments;
  defaultCount: number;
  maxCount: number;
}

// Members of the compartment: resources whose compartment-defining references
// point at the patient (from the reference index), plus the Patient itself.
// Keyset-paged on (resource_type, id), so page n costs what page 1 costs.
const EVERYTHING_SQL = `WITH c(t, p) AS (SELECT * FROM unnest($3::text[], $4::text[])),
m AS (
  SELECT x.resource_type, x.resource_id AS id FROM idx_reference x JOIN c ON x.resource_type = c.t AND x.param = c.p
  WHERE x.tenant_id = $1 AND x.target_type = 'Patient' AND x.target_id = $2
  UNION SELECT 'Patient', $2 WHERE 'Patient' = ANY($5::text[]))
SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM m JOIN resource r ON r.tenant_id = $1 AND r.resource_type = m.resource_type AND r.id = m.id
LEFT JOIN unnest($10::text[], $11::text[]) AS d(t, p) ON d.t = r.resource_type
WHERE NOT r.deleted AND (r.resource_type, r.id) > ($6::text, $7::text) AND ($8::timestamptz IS NULL OR r.last_updated > $8)
  -- In range: one of its care dates overlaps, or it has none (coalesce over no rows). One index probe.
  AND ($12::timestamptz IS NULL OR d.p IS NULL
       OR (SELECT coalesce(bool_or(x.high >= $12::timestamptz AND x.low <= $13::timestamptz), true)
           FROM idx_date x WHERE x.tenant_id = $1 AND x.resource_type = r.resource_type AND x.resource_id = r.id AND x.param = d.p))
ORDER BY r.resource_type, r.id LIMIT $9`;

/** The parameters of `$everything` (R4 OperationDefinition Patient-everything) and of its output and paging. */
const EVERYTHING_PARAMS = ['start', 'end', '_since', '_type', '_count', '_cursor', '_elements', '_summary', '_pretty', '_format'];

/**
 * `start`/`end` as one instant range: care dates (CARE_DATE_PARAMS) that
 * overlap it are in scope, as are resources without one. Dates are read at
 * their precision (`end=2020` runs to the end of 2020); either may be absent.
 */
function careRange(req: FhirRequest): { low: string; high: string } | undefined {
  const start = queryValue(req, 'start');
  const end = queryValue(req, 'end');
  if (start === undefined && end === undefined) return undefined;
  const bound = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const range = dateRange(value);
    if (!range) throw new HavenError('incorrect', 'EVERYTHING_BAD_PARAMETER', `${name} must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) or dateTime`, { expression: [name] });
    return range;
  };
  const low = bound(start, 'start')?.low ?? '-infinity';
  const high = bound(end, 'end')?.high ?? 'infinity';
  if (low !== '-infinity' && high !== 'infinity' && low > high) {
    throw new HavenError('incorrect', 'EVERYTHING_BAD_PARAMETER', 'start is after end', { expression: ['start'] });
  }
  return { low, high };
}

function types(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, compartments: Compartments): string[] {
  const all = ['Patient', ...compartments.resourceTypesIn('Patient').filter((t) => t !== 'Patient')];
  const asked = queryValue(req, '_type')?.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of asked ?? []) {
    if (!deps.fhir.isResourceType(t)) throw new HavenError('incorrect', 'EVERYTHING_BAD_PARAMETER', `_type names an unknown resource type: ${t}`, { expression: ['_type'] });
  }
  return (asked ?? all).filter((t) => all.includes(t) && scopeAllows(ctx.principal, t, 'read'));
}

function count(req: FhirRequest, o: EverythingOptions): number {
  const given = queryValue(req, '_count');
  if (given === undefined) return o.defaultCount;
  if (!/^\d{1,6}$/.test(given) || Number(given) < 1) throw new HavenError('incorrect', 'EVERYTHING_BAD_PARAMETER', '_count must be a positive integer', { expression: ['_count'] });
  return Math.min(Number(given), o.maxCount);
}

/** `Patient/ID/$everything` with `start`/`end` (care dates), `_since`, `_type`, `_count` and keyset paging (`_cursor`); audited like a search. */
export function createEverything(o: EverythingOptions) {
  return async (deps: FhirDeps, ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> => {
    const id = requireId(req.path[1]);
    deps.authorize(ctx, 'Patient', 'read');
    // Only unfiltered system/ scopes reach $everything (docs/security/identity.md): the types below are
    // chosen by them. Any other token is refused here, before the existence check, so that it cannot
    // learn which patient ids exist (another patient's id would otherwise answer 200, an unknown one 404).
    requireScope(ctx.principal, 'Patient', 'read');
    const patient = await deps.store.peek(ctx, 'Patient', id); // existence only: no PHI leaves through peek
    if (!patient) throw new HavenError('not-found', 'RESOURCE_NOT_FOUND', `Patient/${id} is not known`);
    if (patient.deleted) throw new HavenError('gone', 'RESOURCE_DELETED', `Patient/${id} has been deleted`);
    const unknown = req.query.find(([k]) => !EVERYTHING_PARAMS.includes(k));
    if (unknown) {
      throw new HavenError('incorrect', 'EVERYTHING_BAD_PARAMETER', `$everything does not take ${unknown[0]}; it takes ${EVERYTHING_PARAMS.join(', ')}`, { expression: [unknown[0]] });
    }
    const wanted = types(deps, ctx, req, o.compartments);
    const range = careRange(req);
    const dated = wanted.filter((t) => CARE_DATE_PARAMS[t] !== undefined);
    const since = queryValue(req, '_since');
    const n = count(req, o);
    const cursor = /^([A-Za-z]{1,64})\/([A-Za-z0-9\-.]{1,64})$/.exec(queryValue(req, '_cursor') ?? '');
    const links = wanted.flatMap((t) => (t === 'Patient' ? [] : o.compartments.paramsFor('Patient', t).map((p) => [t, p] as const)));
    const params = [ctx.tenant, id, links.map((l) => l[0]), links.map((l) => l[1]), wanted, cursor?.[1] ?? '', cursor?.[2] ?? '', since ? parseInstant(since, '_since') : null, n + 1,
      dated, dated.map((t) => CARE_DATE_PARAMS[t]!), range?.low ?? null, range?.high ?? null];
    const found = await deps.store.query(ctx, { sql: EVERYTHING_SQL, params });
    const page = found.slice(0, n);
    const self = `${req.baseUrl}/Patient/${id}/$everything`;
    const keep = req.query.filter(([k]) => k !== '_cursor');
    const url = (extra: [string, string][]) => `${self}?${new URLSearchParams([...keep, ...extra]).toString()}`.replace(/\?$/, '');
    const bundleLinks: BundleLink[] = [{ relation: 'self', url: url(cursor ? [['_cursor', cursor[0]]] : []) }];
    const last = page[page.length - 1];
    if (found.length > n && last) bundleLinks.push({ relation: 'next', url: url([['_cursor', `${last.resourceType}/${last.id}`]]) });
    const entries = page.map((s) => {
      const shaped = shapeForOutput(deps, req, s.json!);
      return searchEntry(req.baseUrl, s, typeof shaped === 'string' ? shaped : JSON.stringify(shaped), 'match');
    });
    return { status: 200, headers: {}, body: bundleText('searchset', { links: bundleLinks, entries, lastUpdated: new Date(), ...(!cursor && found.length <= n ? { total: page.length } : {}) }) };
  };
}
