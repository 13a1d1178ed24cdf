import { dateRange } from '../fhir/index.js';
import { HavenError } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { ACTION_CODE, type StoredAuditEntry } from './audit-event.js';
import type { AuditAction, AuditEntry } from './entry.js';

/**
 * Search over the audit log (`GET /fhir/AuditEvent`). The log is not stored
 * as FHIR resources, so this is its own small compiler: each supported
 * parameter becomes a condition on the entry columns (patient and time are
 * indexed) or, for entity, a containment test on the canonical entry.
 */
export interface AuditSearch {
  conditions: string[];
  params: unknown[];
  count: number;
  offset: number;
  ascending: boolean;
  total: boolean;
}

export interface AuditSearchPage {
  entries: StoredAuditEntry[];
  total?: number;
  hasMore: boolean;
  count: number;
  offset: number;
  /** The parameters as understood, for self/next links. */
  applied: [string, string][];
}

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
const ACTIONS = Object.keys(ACTION_CODE) as AuditAction[];
const SUBTYPES: Record<string, AuditAction[]> = {
  read: ['read'],
  vread: ['vread'],
  'search-type': ['search'],
  'search-system': ['search'],
  'history-instance': ['history'],
  'history-type': ['history'],
  'history-system': ['history'],
  create: ['create'],
  update: ['update'],
  patch: ['patch'],
  delete: ['delete'],
  batch: ['bundle'],
  transaction: ['bundle'],
  operation: ['operation'],
  '110122': ['login'],
};

function bad(message: string): HavenError {
  return new HavenError('incorrect', 'AUDIT_SEARCH_INVALID', message);
}

export function compileAuditSearch(tenant: string, query: [string, string][]): AuditSearch {
  const s: AuditSearch = { conditions: ['e.tenant_id = $1'], params: [tenant], count: DEFAULT_COUNT, offset: 0, ascending: false, total: false };
  const bind = (v: unknown) => `$${s.params.push(v)}`;
  for (const [name, raw] of query) {
    const values = raw.split(',').filter((v) => v !== '');
    if (values.length === 0) throw bad(`Search parameter ${name} has no value`);
    const any = (sql: (v: string) => string) => s.conditions.push(`(${values.map(sql).join(' OR ')})`);
    switch (name) {
      case '_id':
        any((v) => `e.entry_id = ${bind(integer(v, '_id'))}`);
        break;
      case 'patient':
        any((v) => `e.patient_ids @> ARRAY[${bind(v.includes('/') ? v : `Patient/${v}`)}]::text[]`);
        break;
      case 'agent':
        any((v) => `(e.subject = ${bind(v)} OR e.client_id = ${bind(v)})`);
        break;
      case 'action':
        s.conditions.push(`e.action = ANY(${bind(values.flatMap((v) => ACTIONS.filter((a) => ACTION_CODE[a] === v.toUpperCase())))})`);
        break;
      case 'subtype':
        s.conditions.push(`e.action = ANY(${bind(values.flatMap((v) => SUBTYPES[v.split('|').pop()!] ?? []))})`);
        break;
      case 'type':
        s.conditions.push(typeCondition(values.map((v) => v.split('|').pop()!)));
        break;
      case 'outcome':
        any((v) => (v === '0' ? `e.outcome = 'success'` : ['4', '8', '12'].includes(v) ? `e.outcome = 'failure'` : 'false'));
        break;
      case 'entity':
        any((v) => `convert_from(e.canonical, 'UTF8')::jsonb -> 'resources' @> ${bind(JSON.stringify([entityRef(v)]))}::jsonb`);
        break;
      case 'entity-type':
        any((v) => `convert_from(e.canonical, 'UTF8')::jsonb -> 'resources' @> ${bind(JSON.stringify([{ type: v }]))}::jsonb`);
        break;
      case 'date':
        s.conditions.push(dateCondition(raw, bind));
        break;
      case '_count':
        s.count = Math.min(MAX_COUNT, integer(raw, '_count'));
        break;
      case '_offset':
        s.offset = integer(raw, '_offset');
        break;
      case '_sort':
        if (raw !== 'date' && raw !== '-date') throw bad('AuditEvent can be sorted by date or -date only');
        s.ascending = raw === 'date';
        break;
      case '_total':
        s.total = raw === 'accurate';
        break;
      default:
        throw bad(`Unknown AuditEvent search parameter ${name}; supported: _id, patient, agent, date, action, subtype, type, outcome, entity, entity-type, _count, _offset, _sort, _total`);
    }
  }
  return s;
}

/** AuditEvent.type: `rest` (FHIR interactions) and DICOM 110114 (user authentication). */
function typeCondition(codes: string[]): string {
  const rest = codes.includes('rest');
  const login = codes.includes('110114');
  if (rest && login) return 'true';
  if (rest) return `e.action <> 'login'`;
  return login ? `e.action = 'login'` : 'false';
}

function integer(v: string, name: string): number {
  if (!/^\d{1,15}$/.test(v)) throw bad(`${name} must be a non-negative integer`);
  return Number(v);
}

function entityRef(v: string): { type: string; id?: string } {
  const [type, id] = v.split('/');
  if (!type || !/^[A-Z][A-Za-z]+$/.test(type)) throw bad('entity must be a reference such as Patient/123');
  return id ? { type, id } : { type };
}

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'] as const;

/** FHIR date search over recorded_at: the value is a range (its precision), compared per prefix. */
function dateCondition(raw: string, bind: (v: unknown) => string): string {
  const prefix = PREFIXES.find((p) => raw.startsWith(p)) ?? 'eq';
  const value = raw.startsWith(prefix) ? raw.slice(2) : raw;
  const range = dateRange(value);
  if (!range?.low || !range.high) throw bad('date must be a FHIR date or dateTime, optionally with a prefix such as ge or lt');
  const low = bind(range.low);
  const high = bind(range.high);
  switch (prefix) {
    case 'eq':
      return `e.recorded_at BETWEEN ${low}::timestamptz AND ${high}::timestamptz`;
    case 'ne':
      return `NOT (e.recorded_at BETWEEN ${low}::timestamptz AND ${high}::timestamptz)`;
    case 'gt':
    case 'sa':
      return `e.recorded_at > ${high}::timestamptz`;
    case 'lt':
    case 'eb':
      return `e.recorded_at < ${low}::timestamptz`;
    case 'ge':
      return `e.recorded_at >= ${low}::timestamptz`;
    case 'le':
      return `e.recorded_at <= ${high}::timestamptz`;
  }
}

interface EntryRowOut {
  entry_id: string;
  seq: string | null;
  canonical: Buffer;
}

export async function runAuditSearch(q: Queryable, search: AuditSearch, applied: [string, string][]): Promise<AuditSearchPage> {
  const where = search.conditions.join(' AND ');
  const order = search.ascending ? 'ASC' : 'DESC';
  const res = await q.query<EntryRowOut>(
    `SELECT e.entry_id::text AS entry_id, l.seq::text AS seq, e.canonical
     FROM audit_entry e LEFT JOIN audit_log l ON l.entry_id = e.entry_id
     WHERE ${where} ORDER BY e.recorded_at ${order}, e.entry_id ${order} LIMIT ${search.count + 1} OFFSET ${search.offset}`,
    search.params,
  );
  const rows = res.rows.slice(0, search.count);
  const page: AuditSearchPage = {
    entries: rows.map(toStored),
    hasMore: res.rows.length > search.count,
    count: search.count,
    offset: search.offset,
    applied: applied.filter(([k]) => k !== '_offset' && k !== '_count'),
  };
  if (search.total) {
    const total = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_entry e WHERE ${where}`, search.params);
    page.total = Number(total.rows[0]!.n);
  }
  return page;
}

export function toStored(row: EntryRowOut): StoredAuditEntry {
  return { entryId: row.entry_id, seq: row.seq, entry: JSON.parse(row.canonical.toString('utf8')) as AuditEntry };
}
