import { toAuditEvent, type AuditApi, type AuditSearchPage } from '../../audit/index.js';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import { bundleText, type BundleLink } from './bundle-json.js';
import type { FhirRequest, FhirResponse } from './types.js';

/**
 * `AuditEvent` is served from the tamper-evident audit log, not from the
 * resource store: reads and searches render log entries; writes are refused
 * because only Haven writes its log.
 */
export interface AuditEventHandlers {
  handle(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
}

export function createAuditEventHandlers(api: AuditApi): AuditEventHandlers {
  return {
    async handle(ctx, req) {
      const [, id, extra] = req.path;
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      if (method === 'GET' && id === undefined) return searchResponse(req, await api.searchEvents(ctx, req.query));
      if (method === 'POST' && id === '_search' && extra === undefined) return searchResponse(req, await api.searchEvents(ctx, [...req.query, ...formFields(req.body)]));
      if (method === 'GET' && id !== undefined && extra === undefined) return { status: 200, headers: {}, body: JSON.stringify(await api.readEvent(ctx, id)) };
      if (method === 'GET' || method === 'POST') {
        throw new HavenError('unsupported', 'INTERACTION_NOT_SUPPORTED', 'AuditEvent supports read and search; its history is the audit log itself (GET /audit/tree-head, proofs)');
      }
      throw new HavenError('unsupported', 'AUDIT_READ_ONLY', 'AuditEvent is read-only: the audit log is written by Haven alone and cannot be changed');
    },
  };
}

function formFields(body: unknown): [string, string][] {
  if (body === undefined || body === null || typeof body !== 'object') return [];
  return Object.entries(body as Record<string, string | string[]>).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x): [string, string] => [k, x]));
}

function link(req: FhirRequest, page: AuditSearchPage, offset: number, relation: BundleLink['relation']): BundleLink {
  const params: [string, string][] = [...page.applied, ['_count', String(page.count)]];
  if (offset > 0) params.push(['_offset', String(offset)]);
  const qs = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return { relation, url: `${req.baseUrl}/AuditEvent?${qs}` };
}

function searchResponse(req: FhirRequest, page: AuditSearchPage): FhirResponse {
  const links: BundleLink[] = [link(req, page, page.offset, 'self')];
  if (page.hasMore) links.push(link(req, page, page.offset + page.count, 'next'));
  if (page.offset > 0) links.push(link(req, page, Math.max(0, page.offset - page.count), 'previous'));
  const entries = page.entries.map((stored) => {
    const event = toAuditEvent(stored);
    return JSON.stringify({ fullUrl: `${req.baseUrl}/AuditEvent/${stored.entryId}`, resource: event, search: { mode: 'match' } });
  });
  const body = bundleText('searchset', { links, entries, lastUpdated: new Date(), ...(page.total !== undefined ? { total: page.total } : {}) });
  return { status: 200, headers: {}, body };
}
