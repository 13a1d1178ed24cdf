/**
 * A search page → searchset Bundle: matches, then included resources
 * (search.mode=include), then an outcome entry for ignored parameters and
 * warnings. `_summary`/`_elements` apply to matches and included resources
 * alike (shaped resources carry the SUBSETTED tag).
 */
import type { FhirResource, StoredResource } from '../../store/index.js';
import { bundleText, outcomeEntry, searchEntry, type BundleLink } from './bundle-json.js';
import type { FhirDeps, SearchPage } from './deps.js';
import type { FhirRequest } from './types.js';

/** `_elements=Patient.name,code`: unqualified names apply to every type, qualified ones to theirs. */
function elementsFor(elements: readonly string[], type: string): string[] {
  return elements.filter((e) => !/^[A-Z][A-Za-z]+\./.test(e) || e.startsWith(`${type}.`));
}

function shaped(deps: FhirDeps, page: SearchPage, s: StoredResource): string {
  const summary = page.summary === 'count' || page.summary === 'false' ? undefined : page.summary;
  if (summary === undefined && page.elements === undefined) return s.json!;
  let resource = JSON.parse(s.json!) as FhirResource;
  if (summary !== undefined) resource = deps.fhir.applySummary(resource, summary);
  if (page.elements !== undefined) resource = deps.fhir.applyElements(resource, elementsFor(page.elements, s.resourceType));
  return JSON.stringify(resource);
}

function pageLink(req: FhirRequest, basePath: string, page: SearchPage, offset: number, relation: BundleLink['relation']): BundleLink {
  const params = page.applied.filter(([k]) => k !== '_offset' && k !== '_count');
  params.push(['_count', String(page.count)]);
  if (offset > 0) params.push(['_offset', String(offset)]);
  const qs = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return { relation, url: `${req.baseUrl}${basePath === '' ? '' : `/${basePath}`}${qs ? `?${qs}` : ''}` };
}

/** `basePath`: `Patient`, `Patient/123/Observation`, or '' for system-level search. */
export function searchBundle(deps: FhirDeps, req: FhirRequest, basePath: string, page: SearchPage): string {
  const links: BundleLink[] = [pageLink(req, basePath, page, page.offset, 'self')];
  if (page.hasMore) links.push(pageLink(req, basePath, page, page.offset + page.count, 'next'));
  if (page.offset > 0) links.push(pageLink(req, basePath, page, Math.max(0, page.offset - page.count), 'previous'));
  const entries = page.countOnly
    ? []
    : [
        ...page.entries.map((s) => searchEntry(req.baseUrl, s, shaped(deps, page, s), 'match')),
        ...(page.included ?? []).map((s) => searchEntry(req.baseUrl, s, shaped(deps, page, s), 'include')),
      ];
  const issues = [
    ...page.unknown.map((p) => ({ severity: 'warning', code: 'not-supported', diagnostics: `Search parameter ignored: ${p}` })),
    ...(page.warnings ?? []).map((w) => ({ severity: 'warning', code: 'incomplete', diagnostics: w })),
  ];
  if (issues.length > 0) entries.push(outcomeEntry(JSON.stringify({ resourceType: 'OperationOutcome', issue: issues })));
  return bundleText('searchset', { links, entries, lastUpdated: new Date(), ...(page.total !== undefined ? { total: page.total } : {}) });
}
