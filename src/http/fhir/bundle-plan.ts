import { randomUUID } from 'node:crypto';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { FhirResource, StoredResource, StoreTransaction } from '../../store/index.js';
import type { ParsedEntry } from './bundle-entries.js';
import { refuseCreateQuery, requireId, requireResourceBody, requireType, validateForWrite } from './checks.js';
import { resolveConditional, type ConditionalCache } from './conditional.js';
import type { FhirDeps } from './deps.js';
import { parseETag } from './respond.js';
import { header } from './types.js';

/** Processing phases of a transaction (R4 http.html#trules): DELETE, POST, PUT/PATCH, GET/HEAD. */
export type Phase = 0 | 1 | 2 | 3;

interface StepBase {
  entry: ParsedEntry;
  phase: Phase;
}

/** What an entry will do, once its conditions are resolved. */
export type Step = StepBase &
  (
    | { kind: 'create'; type: string; id: string; resource: FhirResource; criteria?: string }
    /** A conditional create whose criteria matched: nothing is written. */
    | { kind: 'matched'; type: string; stored: StoredResource }
    | { kind: 'update'; type: string; id?: string; resource: FhirResource; ifMatch?: number; criteria?: string }
    /** id undefined after resolution: a conditional delete that matched nothing. */
    | { kind: 'delete'; type: string; id?: string; ifMatch?: number; criteria?: string }
    /** Goes through the router as a single interaction (PATCH, GET, anything unusual). */
    | { kind: 'routed' }
  );

const PHASE: Record<string, Phase> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

function queryString(query: [string, string][]): string {
  return query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/**
 * The checks that need no database, done for every entry before any write:
 * type, id, authorization, body shape and validation. Throws the entry's error.
 */
export function prepareStep(deps: FhirDeps, ctx: RequestContext, entry: ParsedEntry): Step {
  const req = entry.request;
  const phase = PHASE[req.method]!;
  const [first, second] = req.path;
  const n = req.path.length;
  const ifMatch = parseETag(header(req, 'if-match'), 'If-Match');
  const match = ifMatch !== undefined ? { ifMatch } : {};
  if (req.method === 'DELETE' && (n === 1 || n === 2)) {
    const type = requireType(deps, first);
    deps.authorize(ctx, type, 'delete');
    if (n === 2) return { entry, phase, kind: 'delete', type, id: requireId(second), ...match };
    return { entry, phase, kind: 'delete', type, criteria: requireCriteria(queryString(req.query), 'conditional delete'), ...match };
  }
  if (req.method === 'POST' && n === 1) {
    const type = requireType(deps, first);
    deps.authorize(ctx, type, 'create');
    refuseCreateQuery(req.query);
    const resource = requireResourceBody(req.body, type);
    validateForWrite(deps, resource);
    const ifNoneExist = header(req, 'if-none-exist');
    const criteria = ifNoneExist === undefined ? {} : { criteria: requireCriteria(stripType(ifNoneExist, type), 'If-None-Exist') };
    return { entry, phase, kind: 'create', type, id: randomUUID(), resource, ...criteria };
  }
  if (req.method === 'PUT' && (n === 1 || n === 2)) return prepareUpdate(deps, ctx, entry, ifMatch);
  return { entry, phase, kind: 'routed' };
}

function prepareUpdate(deps: FhirDeps, ctx: RequestContext, entry: ParsedEntry, ifMatch: number | undefined): Step {
  const req = entry.request;
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'update');
  const resource = requireResourceBody(req.body, type);
  const match = ifMatch !== undefined ? { ifMatch } : {};
  if (req.path.length === 2) {
    const id = requireId(req.path[1]);
    if (resource.id !== id) {
      throw new HavenError('incorrect', 'ID_MISMATCH', `The body's id (${resource.id ?? 'missing'}) must equal the URL id (${id})`, { expression: [`${type}.id`] });
    }
    validateForWrite(deps, resource);
    return { entry, phase: 2, kind: 'update', type, id, resource, ...match };
  }
  validateForWrite(deps, resource);
  return { entry, phase: 2, kind: 'update', type, resource, criteria: requireCriteria(queryString(req.query), 'conditional update'), ...match };
}

function requireCriteria(criteria: string, what: string): string {
  if (criteria.replace(/^\?/, '') === '') throw new HavenError('incorrect', 'CONDITIONAL_NO_CRITERIA', `${what} needs search criteria`);
  return criteria;
}

/** ifNoneExist holds only parameters, but clients often send `Patient?identifier=…`. */
function stripType(criteria: string, type: string): string {
  return criteria.startsWith(`${type}?`) ? criteria.slice(type.length + 1) : criteria;
}

/** Whether the step is a plain write that can join a multi-resource tx.write. */
export function isPlainWrite(step: Step): boolean {
  if (step.kind === 'create' || step.kind === 'update' || step.kind === 'delete') return step.criteria === undefined;
  return false;
}

/**
 * Resolves the conditions of one step inside the transaction (conditional
 * create, update and delete), against the database as it was before the
 * transaction wrote anything. The caller has serialized the Bundle's conditional
 * creates and updates on their criteria first (prefetchBundleConditions).
 */
export async function resolveStep(deps: FhirDeps, ctx: RequestContext, tx: StoreTransaction, step: Step, cache?: ConditionalCache): Promise<Step> {
  if (step.kind === 'routed' || step.kind === 'matched' || step.criteria === undefined) return step;
  deps.authorize(ctx, step.type, 'search');
  if (step.kind === 'create') {
    const found = await resolveConditional(deps, ctx, tx, step.type, step.criteria, 'If-None-Exist', cache);
    if (found) return { entry: step.entry, phase: step.phase, kind: 'matched', type: step.type, stored: found };
    return { ...step, criteria: undefined };
  }
  const what = step.kind === 'update' ? 'conditional update' : 'conditional delete';
  const found = await resolveConditional(deps, ctx, tx, step.type, step.criteria, what, cache);
  if (step.kind === 'delete') return { ...step, criteria: undefined, ...(found ? { id: found.id } : {}) };
  const bodyId = step.resource.id;
  if (found && bodyId !== undefined && bodyId !== found.id) {
    throw new HavenError('incorrect', 'ID_MISMATCH', `The body's id (${bodyId}) differs from the matched resource (${found.id})`);
  }
  const id = found?.id ?? bodyId;
  // No match and no id in the body: the update creates, with a server-assigned id.
  if (id === undefined) return { entry: step.entry, phase: step.phase, kind: 'create', type: step.type, id: randomUUID(), resource: step.resource };
  return { ...step, criteria: undefined, id };
}

/** The resource a write step targets, as `Type/id` (for duplicate detection and fullUrl mapping). */
export function targetOf(step: Step): string | undefined {
  if (step.kind === 'routed') {
    const [type, id] = step.entry.request.path;
    return step.entry.request.method === 'PATCH' && type && id ? `${type}/${id}` : undefined;
  }
  if (step.kind === 'matched') return `${step.type}/${step.stored.id}`;
  return step.id === undefined ? undefined : `${step.type}/${step.id}`;
}
