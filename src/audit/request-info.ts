import type { AuditAction, AuditRequestInfo, AuditResourceRef } from './entry.js';

/**
 * Classifies a FHIR request (method + path below /fhir) into the audited
 * interaction, mirroring the router's table. Returns undefined for requests
 * that touch no PHI (metadata, SMART configuration).
 */
export function describeFhirRequest(method: string, path: string[]): AuditRequestInfo | undefined {
  const [a, b, c, d] = path;
  const m = method === 'HEAD' ? 'GET' : method;
  const n = path.length;
  const info = (action: AuditAction, resources: AuditResourceRef[] = [], operation?: string): AuditRequestInfo => ({
    action,
    resources,
    recorded: 0,
    ...(operation ? { operation } : {}),
  });
  if (n === 0) return m === 'POST' ? info('bundle') : info('search');
  if (a === 'metadata' || a === '.well-known') return undefined;
  const op = path.find((s) => s.startsWith('$'));
  if (op) return info('operation', a && !a.startsWith('$') ? [ref(a, b && !b.startsWith('$') ? b : undefined)] : [], op);
  if (path.includes('_history')) {
    if (n === 4 && c === '_history' && d !== undefined) return info('vread', [ref(a!, b, Number(d))]);
    return info('history', a === '_history' ? [] : [ref(a!, b === '_history' ? undefined : b)]);
  }
  if (b === '_search') return info('search', [ref(a!)]);
  // Compartment search (Encounter/e1/Observation, Patient/p1/*, or its POST _search form): a search
  // whose focus is the compartment's owner, not a read of it; the results are listed as for any search.
  if ((n === 3 && m === 'GET') || (n === 4 && d === '_search' && m === 'POST')) return info('search', [ref(a!, b)]);
  if (m === 'GET') return n === 1 ? info('search', [ref(a!)]) : info('read', [ref(a!, b)]);
  if (m === 'POST') return info('create', [ref(a!)]);
  if (m === 'PUT') return info('update', [ref(a!, b)]);
  if (m === 'PATCH') return info('patch', [ref(a!, b)]);
  if (m === 'DELETE') return info('delete', [ref(a!, b)]);
  return info('operation', [ref(a!, b)]);
}

function ref(type: string, id?: string, version?: number): AuditResourceRef {
  return {
    type,
    ...(id !== undefined ? { id } : {}),
    ...(version !== undefined && Number.isInteger(version) ? { version } : {}),
    ...(type === 'Patient' && id !== undefined ? { patient: `Patient/${id}` } : {}),
  };
}
