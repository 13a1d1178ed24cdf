import { hash, randomUUID } from 'node:crypto';
import type { RequestContext } from '../kernel/index.js';
import { canonicalFast, compileShape, type CanonicalValue } from './canonical.js';
import type { SealedAuditEntry, StoredEntryJson } from './sealed-entry.js';

/** What was done, in FHIR interaction terms (docs/security/audit.md maps them to ASTM E2147 and AuditEvent). */
export type AuditAction =
  | 'read'
  | 'vread'
  | 'search'
  | 'history'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'bundle'
  | 'operation'
  | 'login';

export interface AuditResourceRef {
  type: string;
  id?: string;
  version?: number;
  /** `Patient/{id}`: the resource itself when a Patient, else its subject/patient reference. */
  patient?: string;
}

/**
 * One audit entry with every field in clear: as stored in version 1 (its
 * canonical encoding is what the Merkle leaf commits to), or a version 2
 * entry opened for an auditor (sealed-entry.ts has the stored v2 form).
 */
export interface AuditEntry {
  v: 1 | 2;
  /** Random event id: distinct entries never share bytes. */
  id: string;
  tenant: string;
  /** UTC, millisecond precision. */
  recordedAt: string;
  action: AuditAction;
  outcome: 'success' | 'failure';
  /** Haven error code on failure. */
  outcomeCode?: string;
  status?: number;
  who: { subject: string; clientId: string; kind: string; onBehalfOf?: string; tokenId?: string };
  where: { node: string; sourceIp?: string };
  /** Purpose of use (e.g. TREAT), from `X-Purpose-Of-Use` or the token. */
  why?: string;
  requestId: string;
  /** Set when the access happened inside a batch/transaction Bundle. */
  context?: 'bundle';
  /** Operation name for `$operation` requests. */
  operation?: string;
  resources: AuditResourceRef[];
  /** Set when the PHI was left out because the tenant was crypto-shredded (no key to seal it with). */
  redacted?: 'tenant-shredded';
}

/** Per-request facts the HTTP edge knows and the store hooks do not (the interaction). */
export interface AuditRequestInfo {
  action?: AuditAction;
  operation?: string;
  resources: AuditResourceRef[];
  /** Entries recorded for this request so far. */
  recorded: number;
}

/** A RequestContext that carries audit facts; the kernel type stays free of audit concerns. */
export type AuditedContext = RequestContext & { audit?: AuditRequestInfo };

export interface EntryRow {
  entry: StoredEntryJson;
  canonical: Buffer;
  patients: string[];
  /** leafHash(canonical), when the row was made by toRow (insert.ts computes it otherwise). */
  leaf?: Buffer;
}

export interface EntryFacts {
  action: AuditAction;
  outcome: AuditEntry['outcome'];
  resources: AuditResourceRef[];
  outcomeCode?: string;
  status?: number;
}

/** Builds an entry (v1, in clear) with its canonical bytes. */
export function buildEntry(ctx: AuditedContext, node: string, now: Date, facts: EntryFacts): EntryRow {
  return toRow(entryOf(ctx, node, now, facts));
}

/**
 * The entry an event makes, from the request context and what happened; not
 * yet encoded (it may still be sealed). Optional members are assigned only
 * when present, rather than spread from `cond ? {…} : {}` objects: this runs
 * for every audited read and write.
 */
export function entryOf(ctx: AuditedContext, node: string, now: Date, facts: EntryFacts): AuditEntry {
  const p = ctx.principal as RequestContext['principal'] & { onBehalfOf?: unknown; tokenId?: unknown; purposeOfUse?: unknown };
  const who: AuditEntry['who'] = { subject: p.subject, clientId: p.clientId, kind: p.kind };
  if (typeof p.onBehalfOf === 'string') who.onBehalfOf = p.onBehalfOf;
  if (typeof p.tokenId === 'string') who.tokenId = p.tokenId;
  const where: AuditEntry['where'] = { node };
  if (ctx.sourceIp) where.sourceIp = ctx.sourceIp;
  const entry: AuditEntry = {
    v: 1 as const,
    id: randomUUID(),
    tenant: ctx.tenant,
    recordedAt: now.toISOString(),
    action: facts.action,
    outcome: facts.outcome,
    who,
    where,
    requestId: ctx.requestId,
    resources: facts.resources,
  };
  if (facts.outcomeCode) entry.outcomeCode = facts.outcomeCode;
  if (facts.status !== undefined) entry.status = facts.status;
  const why = purposeOf(ctx, p.purposeOfUse);
  if (why) entry.why = why;
  if (ctx.audit?.action === 'bundle' && facts.action !== 'bundle') entry.context = 'bundle';
  if (ctx.audit?.operation) entry.operation = ctx.audit.operation;
  return entry;
}

function purposeOf(ctx: RequestContext, fromToken: unknown): string | undefined {
  return ctx.purposeOfUse ?? (typeof fromToken === 'string' ? fromToken : undefined);
}

/**
 * Every member an entry of format v1 or v2 (either as stored) may have (the
 * compiler holds it to the two types). An entry that fits is encoded natively
 * (canonical.ts, canonicalFast); any other falls back to the generic encoder,
 * with the same bytes.
 */
const ENTRY_SHAPE = compileShape({
  v: 'number',
  id: 'string',
  tenant: 'string',
  recordedAt: 'string',
  action: 'string',
  outcome: 'string',
  outcomeCode: 'string',
  status: 'number',
  who: { subject: 'string', clientId: 'string', kind: 'string', onBehalfOf: 'string', tokenId: 'string' },
  where: { node: 'string', sourceIp: 'string' },
  why: 'string',
  requestId: 'string',
  context: 'string',
  operation: 'string',
  resources: [{ type: 'string', id: 'string', version: 'number', patient: 'string', entity: 'string' }],
  redacted: 'string',
  sealed: 'string',
} as const satisfies Record<keyof AuditEntry | keyof SealedAuditEntry, unknown>);

/**
 * The row to insert: canonical bytes, their Merkle leaf hash, and the patient
 * values (references in v1, tags in v2) for the batch column. The bytes are
 * encoded once behind the leaf prefix (0x00), so the leaf hash needs no copy
 * of them: `canonical` is a view of everything after it.
 */
export function toRow(entry: StoredEntryJson): EntryRow {
  const patients = [...new Set(entry.resources.map((r) => r.patient).filter((x): x is string => x !== undefined))];
  const prefixed = Buffer.from(`\u0000${canonicalFast(entry as unknown as CanonicalValue, ENTRY_SHAPE)}`, 'utf8');
  return { entry, canonical: prefixed.subarray(1), patients, leaf: hash('sha256', prefixed, 'buffer') };
}

// Stored JSON is produced by JSON.stringify, so a reference reads `"subject":{…"reference":"Patient/x"…}`.
const SUBJECT_REF = /"(?:subject|patient)":\{[^{}]*?"reference":"(Patient\/[A-Za-z0-9\-.]{1,64})"/;

/** The patient a resource is about, from its JSON text, without a full parse in the common case. */
export function patientOfJson(type: string, id: string, json: string | null): string | undefined {
  if (type === 'Patient') return `Patient/${id}`;
  if (json === null) return undefined;
  const m = SUBJECT_REF.exec(json);
  if (m) return m[1];
  if (!json.includes('"subject"') && !json.includes('"patient"')) return undefined;
  return patientOfResource(type, id, JSON.parse(json) as Record<string, unknown>);
}

/** The patient a resource is about: itself if a Patient, else `subject` or `patient` when it references a Patient. */
export function patientOfResource(type: string, id: string, resource: Record<string, unknown> | undefined): string | undefined {
  if (type === 'Patient') return `Patient/${id}`;
  for (const key of ['subject', 'patient']) {
    const ref = (resource?.[key] as { reference?: unknown } | undefined)?.reference;
    if (typeof ref === 'string' && /^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) return ref;
  }
  return undefined;
}
