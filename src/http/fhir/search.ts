import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import { requireType } from './checks.js';
import type { FhirDeps, SearchPage } from './deps.js';
import { bundleText, outcomeEntry, searchEntry, type BundleLink } from './bundle-json.js';
import { shapeForOutput } from './respond.js';
import { header, type FhirRequest, type FhirResponse } from './types.js';

/** Search parameters from the query string, plus form fields for POST _search. */
function searchParams(req: FhirRequest): [string, string][] {
  const params = [...req.query];
  if (req.method === 'POST') {
    if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
      throw new HavenError('incorrect', 'SEARCH_BAD_FORM', 'POST _search needs an application/x-www-form-urlencoded body');
    }
    for (const [k, v] of Object.entries((req.body as Record<string, string | string[]> | undefined) ?? {})) {
      for (const value of Array.isArray(v) ? v : [v]) params.push([k, value]);
    }
  }
  return params;
}

export async function search(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'search');
  const strict = /handling=strict/.test(header(req, 'prefer') ?? '');
  const page = await deps.searcher.search(ctx, tx ?? deps.store, type, searchParams(req), { strict });
  return { status: 200, headers: {}, body: searchBundle(deps, req, type, page) };
}

function pageLink(req: FhirRequest, type: string, page: SearchPage, offset: number, relation: BundleLink['relation']): BundleLink {
  const params = page.applied.filter(([k]) => k !== '_offset' && k !== '_count');
  params.push(['_count', String(page.count)]);
  if (offset > 0) params.push(['_offset', String(offset)]);
  const qs = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return { relation, url: `${req.baseUrl}/${type}${qs ? `?${qs}` : ''}` };
}

export function searchBundle(deps: FhirDeps, req: FhirRequest, type: string, page: SearchPage): string {
  const links: BundleLink[] = [pageLink(req, type, page, page.offset, 'self')];
  if (page.hasMore) links.push(pageLink(req, type, page, page.offset + page.count, 'next'));
  if (page.offset > 0) links.push(pageLink(req, type, page, Math.max(0, page.offset - page.count), 'previous'));
  const entries = page.countOnly
    ? []
    : page.entries.map((s) => {
        const shaped = shapeForOutput(deps, req, s.json!);
        return searchEntry(req.baseUrl, s, typeof shaped === 'string' ? shaped : JSON.stringify(shaped), 'match');
      });
  if (page.unknown.length > 0) {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: page.unknown.map((p) => ({ severity: 'warning', code: 'not-supported', diagnostics: `Search parameter ignored: ${p}` })),
    };
    entries.push(outcomeEntry(JSON.stringify(outcome)));
  }
  return bundleText('searchset', { links, entries, lastUpdated: new Date(), ...(page.total !== undefined ? { total: page.total } : {}) });
}
