import { randomUUID } from 'node:crypto';
import type { StoredResource } from '../../store/index.js';

export interface BundleLink {
  relation: 'self' | 'next' | 'previous' | 'first';
  url: string;
}

export interface BundleEntryText {
  /** Pre-serialized entry JSON. */
  json: string;
}

/**
 * Assembles a Bundle as text around resource JSON that is already serialized,
 * so search and history pages never parse and re-serialize stored resources.
 */
export function bundleText(type: 'searchset' | 'history' | 'batch-response' | 'transaction-response', options: {
  total?: number;
  links: BundleLink[];
  entries: string[];
  lastUpdated: Date;
}): string {
  const head = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: options.lastUpdated.toISOString() },
    type,
    ...(options.total !== undefined ? { total: options.total } : {}),
    ...(options.links.length > 0 ? { link: options.links } : {}),
  };
  const start = JSON.stringify(head);
  if (options.entries.length === 0) return start;
  return `${start.slice(0, -1)},"entry":[${options.entries.join(',')}]}`;
}

/** A contained resource returned alone is addressed inside its container: `…/MedicationRequest/1#med`. */
export function fullUrl(baseUrl: string, s: StoredResource): string {
  if (s.container) return `${baseUrl}/${s.container.resourceType}/${s.container.id}#${s.id}`;
  return `${baseUrl}/${s.resourceType}/${s.id}`;
}

export function searchEntry(baseUrl: string, s: StoredResource, resourceJson: string, mode: 'match' | 'include'): string {
  return `{"fullUrl":${JSON.stringify(fullUrl(baseUrl, s))},"resource":${resourceJson},"search":{"mode":"${mode}"}}`;
}

export function outcomeEntry(outcomeJson: string): string {
  return `{"resource":${outcomeJson},"search":{"mode":"outcome"}}`;
}

export function historyEntry(baseUrl: string, s: StoredResource, resourceJson: string | null): string {
  const method = s.method ?? (s.deleted ? 'DELETE' : 'PUT');
  const url = method === 'POST' ? s.resourceType : `${s.resourceType}/${s.id}`;
  const status = s.deleted ? '204 No Content' : method === 'POST' ? '201 Created' : '200 OK';
  const request = JSON.stringify({ method: method === 'PATCH' ? 'PATCH' : method, url });
  const response = JSON.stringify({ status, etag: `W/"${s.versionId}"`, lastModified: s.lastUpdated.toISOString() });
  const resource = resourceJson === null ? '' : `"resource":${resourceJson},`;
  return `{"fullUrl":${JSON.stringify(fullUrl(baseUrl, s))},${resource}"request":${request},"response":${response}}`;
}
