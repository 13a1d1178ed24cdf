import { dateRange } from '../fhir/index.js';
import { HavenError } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { ACTION_CODE, type StoredAuditEntry } from './audit-event.js';
import type { AuditAction, AuditEntry } from './entry.js';
import type { AuditTagger } from './entry-crypto.js';

/**
 * Search over the audit log (`GET /fhir/AuditEvent`). The log is not stored
 * as FHIR resources, so this is its own small compiler: each supported
 * parameter becomes a condition on the entry columns (patient and time are
 * indexed) or, for entity, a containment test on the canonical entry.
 */
export interface AuditSearch {
  /** Conditions on the entry (columns of the audit_entry view, alias e). */
  conditions: string[];
  /**
   * Conditions on the entry's batch that the entry conditions imply, written
   * with `@column` for a column of audit_batch: they let the batch indexes
   * (patients, time) narrow the batches before any entry is read.
   */
  batchConditions: string[];
  /**
   * Batch conditions that only tell an index scan where to start, derived
   * from the longest span of a batch (dateCondition): used by the page's
   * statements, left out of counts, where their unknown selectivity would make
   * the planner expect a handful of batches and give up a parallel scan.
   */
  scanBounds: string[];
  /**
   * When every entry condition is a date condition: for each, the batch
   * condition under which every entry of a batch meets it (dateCondition's
   * `whole`). A count then takes such batches' sizes without reading their
   * entries (countStatement). Undefined once any other entry condition is set.
   */
  wholeBatch?: string[];
  params: unknown[];
  count: number;
  offset: number;
  ascending: boolean;
  total: boolean;
  /** `_summary=count`: the total alone, no entries read. */
  countOnly: boolean;
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

/** The search parameters `GET /fhir/AuditEvent` implements (also what the CapabilityStatement lists). */
export const AUDIT_EVENT_SEARCH_PARAMS = ['_id', 'patient', 'agent', 'date', 'action', 'subtype', 'type', 'outcome', 'entity', 'entity-type'] as const;
const AUDIT_EVENT_RESULT_PARAMS = ['_count', '_offset', '_sort', '_total', '_summary'] as const;

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

/**
 * `tag`, when the tenant has a blind-index key, also binds each patient,
 * entity and agent value's blind tag: v1 entries hold the value in clear, v2
 * entries its tag (sealed-entry.ts), and one search must find both.
 */
export function compileAuditSearch(tenant: string, query: [string, string][], tag?: AuditTagger): AuditSearch {
  const s: AuditSearch = { conditions: [], batchConditions: ['@tenant_id = $1'], scanBounds: [], wholeBatch: [], params: [tenant], count: DEFAULT_COUNT, offset: 0, ascending: false, total: false, countOnly: false };
  const bind = (v: unknown) => `$${s.params.push(v)}`;
  for (const [name, raw] of query) {
    const values = raw.split(',').filter((v) => v !== '');
    if (values.length === 0) throw bad(`Search parameter ${name} has no value`);
    const any = (sql: (v: string) => string) => s.conditions.push(`(${values.map(sql).join(' OR ')})`);
    switch (name) {
      case '_id':
        // The entry's batch is the tenant's last batch starting at or before the id (ids are batch_id + ordinal).
        any((v) => {
          const id = bind(integer(v, '_id'));
          return `(e.entry_id = ${id} AND e.batch_id = (SELECT max(bi.batch_id) FROM audit_batch bi WHERE bi.tenant_id = $1 AND bi.batch_id <= ${id}))`;
        });
        break;
      case 'patient': {
        const refs = values.flatMap((v) => {
          const ref = v.includes('/') ? v : `Patient/${v}`;
          return tag ? [bind(ref), bind(tag('patient', ref))] : [bind(ref)];
        });
        s.batchConditions.push(`@patient_ids && ARRAY[${refs.join(', ')}]::text[]`);
        s.conditions.push(`(${refs.map((r) => `e.patient_ids @> ARRAY[${r}]::text[]`).join(' OR ')})`);
        break;
      }
      case 'agent': {
        const forms = values.flatMap((v) => (tag ? [v, tag('subject', v)] : [v]));
        // Batches hold their agents (migration 040; NULL in batches written before it, which are read as before).
        s.batchConditions.push(`(@agent_ids && ${bind(forms)}::text[] OR @agent_ids IS NULL)`);
        any((v) => `(e.subject = ${bind(v)} OR e.client_id = ${bind(v)}${tag ? ` OR e.subject = ${bind(tag('subject', v))}` : ''})`);
        break;
      }
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
        // Failures only: the batches that hold one (migration 045; NULL before it, read as before).
        if (values.every((v) => v !== '0')) s.batchConditions.push('(@failed OR @failed IS NULL)');
        break;
      case 'entity': {
        const refs = values.map(entityRef);
        // Batches hold the resources their entries name (migration 041; NULL before it, read as before).
        // A type alone (entity=Observation) names no resource, so a value list with one narrows nothing.
        if (refs.every((ref) => ref.id !== undefined)) {
          const forms = refs.flatMap(({ type, id }) => (tag ? [`${type}/${id}`, tag('entity', `${type}/${id}`)] : [`${type}/${id}`]));
          s.batchConditions.push(`(@entity_ids && ${bind(forms)}::text[] OR @entity_ids IS NULL)`);
        }
        const has = (r: object) => `convert_from(e.canonical, 'UTF8')::jsonb -> 'resources' @> ${bind(JSON.stringify([r]))}::jsonb`;
        const matches = refs.map((ref) => (tag && ref.id !== undefined ? `(${has(ref)} OR ${has({ type: ref.type, entity: tag('entity', `${ref.type}/${ref.id}`) })})` : has(ref)));
        s.conditions.push(`(${matches.join(' OR ')})`);
        break;
      }
      case 'entity-type':
        any((v) => `convert_from(e.canonical, 'UTF8')::jsonb -> 'resources' @> ${bind(JSON.stringify([{ type: v }]))}::jsonb`);
        break;
      case 'date': {
        const { entry, batch, bound, whole } = dateCondition(raw, bind);
        s.conditions.push(entry);
        if (batch) s.batchConditions.push(batch);
        if (bound) s.scanBounds.push(bound);
        s.wholeBatch?.push(whole);
        break;
      }
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
      case '_summary':
        // How many accesses match is an auditor's first question; the other summaries have nothing to leave out here.
        if (raw !== 'count') throw bad('AuditEvent supports _summary=count only');
        s.countOnly = true;
        break;
      default:
        throw bad(`Unknown AuditEvent search parameter ${name}; supported: ${[...AUDIT_EVENT_SEARCH_PARAMS, ...AUDIT_EVENT_RESULT_PARAMS].join(', ')}`);
    }
  }
  // Only date conditions each have a batch-level form that covers whole batches.
  if (s.wholeBatch && s.wholeBatch.length !== s.conditions.length) delete s.wholeBatch;
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

/**
 * FHIR date search over recorded_at: the value is a range (its precision),
 * compared per prefix. The batch condition follows from first_at ≤ every
 * entry's recorded_at ≤ last_at (verification checks that this holds).
 *
 * A bound on one end of a batch also bounds its other end by the longest
 * span of any batch of the tenant (MAX_SPAN, an index look-up, migration
 * 046): a batch that holds an entry before T ends before T + that span. The
 * searches read batches in last_at order (first_at when oldest first), so
 * with that second bound (`bound`, AuditSearch.scanBounds) the index scan
 * starts at T instead of passing every newer batch: `date=lt…` on a log
 * mostly newer than T read 400,000 batches of the 1M bench store to find its
 * first page.
 */
function dateCondition(raw: string, bind: (v: unknown) => string): { entry: string; batch?: string; bound?: string; whole: string } {
  const prefix = PREFIXES.find((p) => raw.startsWith(p)) ?? 'eq';
  const value = raw.startsWith(prefix) ? raw.slice(2) : raw;
  const range = dateRange(value);
  if (!range?.low || !range.high) throw bad('date must be a FHIR date or dateTime, optionally with a prefix such as ge or lt');
  // Bound only when used: a parameter the statement never mentions has no type, and PostgreSQL refuses it.
  let lowRef: string | undefined;
  let highRef: string | undefined;
  const low = () => (lowRef ??= `${bind(range.low)}::timestamptz`);
  const high = () => (highRef ??= `${bind(range.high)}::timestamptz`);
  const endsBy = (t: string) => `@last_at <= ${t} + ${MAX_SPAN}`;
  const startsFrom = (t: string) => `@first_at >= ${t} - ${MAX_SPAN}`;
  switch (prefix) {
    case 'eq':
      return { entry: `e.recorded_at BETWEEN ${low()} AND ${high()}`, batch: `@last_at >= ${low()} AND @first_at <= ${high()}`, bound: `${startsFrom(low())} AND ${endsBy(high())}`, whole: `@first_at >= ${low()} AND @last_at <= ${high()}` };
    case 'ne':
      return { entry: `NOT (e.recorded_at BETWEEN ${low()} AND ${high()})`, whole: `(@last_at < ${low()} OR @first_at > ${high()})` };
    case 'gt':
    case 'sa':
      return { entry: `e.recorded_at > ${high()}`, batch: `@last_at > ${high()}`, bound: startsFrom(high()), whole: `@first_at > ${high()}` };
    case 'lt':
    case 'eb':
      return { entry: `e.recorded_at < ${low()}`, batch: `@first_at < ${low()}`, bound: endsBy(low()), whole: `@last_at < ${low()}` };
    case 'ge':
      return { entry: `e.recorded_at >= ${low()}`, batch: `@last_at >= ${low()}`, bound: startsFrom(low()), whole: `@first_at >= ${low()}` };
    case 'le':
      return { entry: `e.recorded_at <= ${high()}`, batch: `@first_at <= ${high()}`, bound: endsBy(high()), whole: `@last_at <= ${high()}` };
  }
}

/**
 * The longest span (last_at - first_at) of any batch of the search's tenant
 * ($1), read from audit_batch_by_span: computed once per statement (an
 * InitPlan), in the statement's snapshot, so no batch the statement can see
 * is longer. NULL when the tenant has no batch, and then nothing matches, as
 * it should.
 */
const MAX_SPAN = '(SELECT max(s.last_at - s.first_at) FROM audit_batch s WHERE s.tenant_id = $1)';

/** Batch conditions on the audit_entry view (alias e) or on audit_batch itself (alias b). */
export function batchWhere(conditions: string[], alias: 'e' | 'b'): string {
  return conditions
    .map((c) => c.replace(/@(tenant_id|first_at|last_at|patient_ids|agent_ids|entity_ids|failed)\b/g, (_m, col: string) => (alias === 'b' ? `b.${col}` : col === 'tenant_id' ? 'e.tenant_id' : `e.batch_${col}`)))
    .join(' AND ');
}

/** The whole WHERE clause of a search over the audit_entry view. */
export function entryWhere(search: Pick<AuditSearch, 'conditions' | 'batchConditions'>): string {
  return [batchWhere(search.batchConditions, 'e'), ...search.conditions].join(' AND ');
}

interface EntryRowOut {
  entry_id: string;
  seq: string | null;
  canonical: Buffer;
  recorded_at?: Date;
}

/** The statement renumbered to bind only the parameters it uses (PostgreSQL refuses unused ones). */
function onlyUsedParams(text: string, params: unknown[]): [string, unknown[]] {
  const used: unknown[] = [];
  const index = new Map<string, number>();
  const renumbered = text.replace(/\$(\d+)\b/g, (_m, n: string) => {
    if (!index.has(n)) index.set(n, used.push(params[Number(n) - 1]));
    return `$${index.get(n)}`;
  });
  return [renumbered, used];
}

/** Columns of an entry as the API serves it: id, log position (null until sequenced), signed bytes. */
export const ENTRY_COLUMNS = `e.entry_id::text AS entry_id, (l.first_seq + e.ordinal - 1)::text AS seq, e.canonical, e.recorded_at`;
export const ENTRY_FROM = 'audit_entry e LEFT JOIN audit_batch_log l ON l.batch_id = e.batch_id';

/**
 * Runs a search newest (or oldest) first. Entries are not indexed one by one,
 * so the query reads only the `window` newest candidate batches (batch index on
 * tenant and last_at) and widens the window until the page is provably
 * complete: every entry outside the window is older than the window's edge, so
 * a page whose last row is not older than the edge is the true page.
 */
export async function runAuditSearch(q: Queryable, search: AuditSearch, applied: [string, string][]): Promise<AuditSearchPage> {
  const where = entryWhere(search);
  const pageApplied = applied.filter(([k]) => k !== '_offset' && k !== '_count');
  if (search.countOnly) {
    return { entries: [], hasMore: false, count: 0, offset: 0, applied: pageApplied, total: await countEntries(q, search) };
  }
  const order = search.ascending ? 'ASC' : 'DESC';
  const edgeColumn = search.ascending ? 'first_at' : 'last_at';
  const bounds = search.scanBounds.length > 0 ? ` AND ${batchWhere(search.scanBounds, 'e')}` : '';
  let rows: EntryRowOut[] = [];
  for (let window = 64; ; window *= 8) {
    const edgeRes = await q.query<{ edge: Date }>(
      ...onlyUsedParams(
        `SELECT b.${edgeColumn} AS edge FROM audit_batch b WHERE ${batchWhere([...search.batchConditions, ...search.scanBounds], 'b')}
         ORDER BY b.${edgeColumn} ${order} OFFSET ${window - 1} LIMIT 1`,
        search.params,
      ),
    );
    const edge = edgeRes.rows[0]?.edge;
    const within = (edge === undefined ? '' : windowBound(search.ascending, `'${edge.toISOString()}'::timestamptz`)) + bounds;
    const res = await q.query<EntryRowOut>(
      `SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM}
       WHERE ${where}${within} ORDER BY e.recorded_at ${order}, e.entry_id ${order} LIMIT ${search.count + 1} OFFSET ${search.offset}`,
      search.params,
    );
    rows = res.rows;
    if (edge === undefined) break;
    const last = rows.length > search.count ? rows[search.count] : undefined;
    if (last?.recorded_at && (search.ascending ? last.recorded_at <= edge : last.recorded_at >= edge)) break;
  }
  const page: AuditSearchPage = {
    entries: rows.slice(0, search.count).map(toStored),
    hasMore: rows.length > search.count,
    count: search.count,
    offset: search.offset,
    applied: pageApplied,
  };
  if (search.total) page.total = await countEntries(q, search);
  return page;
}

/**
 * The window of a page: batches that end at or after the edge (newest first),
 * or start at or before it (oldest first). The same bound on the other end
 * (by the longest span, as in dateCondition) lets either time index serve it:
 * with a date range the planner may read audit_batch_by_first, and without it
 * would filter a whole month of batches (55,000 on a 10M-entry log) there.
 */
export function windowBound(ascending: boolean, edge: string): string {
  return ascending
    ? ` AND e.batch_first_at <= ${edge} AND e.batch_last_at <= ${edge} + ${MAX_SPAN}`
    : ` AND e.batch_last_at >= ${edge} AND e.batch_first_at >= ${edge} - ${MAX_SPAN}`;
}

/**
 * The statement counting the entries that match. A batch whose time span lies wholly inside every
 * date condition contributes its size, without reading its entries (parsing
 * each entry's JSON was the whole cost: a month of a 10M-entry log, 892,800
 * entries, took 5-7 s); only the batches at the period's edges are read entry
 * by entry. Sound because every entry's recordedAt lies in its batch's
 * [first_at, last_at] (`haven audit verify` checks it). A batch's size is
 * the length of its leaf hashes, as long as its entries in every batch Haven
 * writes (verify names an entry without its leaf, or a leaf without its
 * entry) and far smaller to read than the entries. Withheld batches
 * (restored without a shredded tenant's entries, migration 030) have no
 * entries to date: the view gives them no recordedAt, and neither side
 * counts them under a date condition. With no condition at all the view
 * counts one row per entry or leaf hash, whichever array is longer.
 */
export function countStatement(search: AuditSearch): string {
  const where = entryWhere(search);
  if (!search.wholeBatch) return `SELECT count(*)::text AS n FROM audit_entry e WHERE ${where}`;
  if (search.wholeBatch.length === 0) {
    return `SELECT coalesce(sum(greatest(cardinality(b.entries), cardinality(b.leaf_hashes))), 0)::text AS n FROM audit_batch b WHERE ${batchWhere(search.batchConditions, 'b')}`;
  }
  const whole = search.wholeBatch.join(' AND ');
  // The batches at the edges are few, and the span bounds (dateCondition) let an index find them.
  const edges = [where, `(${batchWhere([whole], 'e')}) IS NOT TRUE`, ...(search.scanBounds.length > 0 ? [batchWhere(search.scanBounds, 'e')] : [])].join(' AND ');
  return `SELECT ((SELECT coalesce(sum(cardinality(b.leaf_hashes)), 0) FROM audit_batch b
                   WHERE ${batchWhere([...search.batchConditions, whole], 'b')} AND b.withheld IS NULL)
                + (SELECT count(*) FROM audit_entry e WHERE ${edges}))::text AS n`;
}

async function countEntries(q: Queryable, search: AuditSearch): Promise<number> {
  const total = await q.query<{ n: string }>(countStatement(search), search.params);
  return Number(total.rows[0]!.n);
}

/**
 * The stored entry as parsed. A v2 entry still has its details sealed here:
 * callers open it (entry-crypto.ts `open`, or `openWithoutKeys`) before use.
 */
export function toStored(row: EntryRowOut): StoredAuditEntry {
  return { entryId: row.entry_id, seq: row.seq, entry: JSON.parse(row.canonical.toString('utf8')) as AuditEntry };
}
