import { buildEntry, type AuditedContext, type EntryFacts, type EntryRow } from '../src/audit/entry.js';
import { entityOf } from '../src/audit/insert.js';
import { leafHash } from '../src/audit/merkle.js';
import { asTenantId } from '../src/kernel/index.js';
import { TupleEncoder } from './audit-copy.js';

export interface BlockSpec {
  from: number;
  to: number;
  seed: number;
  startMs: number;
  stepMs: number;
  /** Entries per batch row. */
  batchEntries: number;
  /** About one access in this many fails (logins five times as often); default 50. */
  failureEvery?: number;
}

/** One block of the fixture: audit_batch tuples (binary COPY) and the leaf hashes, 32 bytes each, in seq order. */
export interface Block {
  from: number;
  tuples: Buffer;
  leaves: Buffer;
  /** [first seq, entry count] of each batch in the block, in seq order. */
  batches: [number, number][];
}

/**
 * Builds entries [from, to) with Haven's own builder, in batches of
 * `batchEntries` as group commit would leave them (batch_id = first seq + 1,
 * so every entry id is its seq + 1); each block seeds its own mix, so blocks
 * can be built anywhere.
 */
export function buildBlock(spec: BlockSpec): Block {
  const mix = createMix(spec.seed * 1_000_003 + spec.from, spec.failureEvery);
  const enc = new TupleEncoder();
  const leaves = Buffer.allocUnsafe((spec.to - spec.from) * 32);
  const batches: [number, number][] = [];
  for (let first = spec.from; first < spec.to; first += spec.batchEntries) {
    const rows: EntryRow[] = [];
    const end = Math.min(spec.to, first + spec.batchEntries);
    for (let seq = first; seq < end; seq++) {
      const { ctx, facts } = mix(seq);
      const row = buildEntry(ctx, 'node-a', new Date(spec.startMs + seq * spec.stepMs), facts);
      leafHash(row.canonical).copy(leaves, (seq - spec.from) * 32);
      rows.push(row);
    }
    encodeBatch(enc, first, rows, leaves.subarray((first - spec.from) * 32, (end - spec.from) * 32));
    batches.push([first, rows.length]);
  }
  return { from: spec.from, tuples: enc.take(), leaves, batches };
}

function encodeBatch(enc: TupleEncoder, firstSeq: number, rows: EntryRow[], leaves: Buffer): void {
  const at = rows.map((r) => Date.parse(r.entry.recordedAt));
  const patients = [...new Set(rows.flatMap((r) => r.patients))];
  // As src/audit/insert.ts writes them (migrations 040, 041, 045).
  const agents = [...new Set(rows.flatMap((r) => [r.entry.who.subject, r.entry.who.clientId]))];
  const entities = [...new Set(rows.flatMap((r) => r.entry.resources.flatMap((x) => entityOf(x) ?? [])))];
  const leafList = rows.map((_, i) => leaves.subarray(i * 32, i * 32 + 32));
  const failed = rows.some((r) => r.entry.outcome === 'failure');
  enc
    .tuple(10)
    .text(rows[0]!.entry.tenant)
    .int8(firstSeq + 1)
    .timestamp(Math.min(...at))
    .timestamp(Math.max(...at))
    .textArray(patients)
    .textArray(agents)
    .textArray(entities)
    .bytes(Buffer.from([failed ? 1 : 0]))
    .byteaArray(rows.map((r) => r.canonical))
    .byteaArray(leafList);
}

/**
 * A deterministic mix of who did what, shaped like a clinical API's traffic:
 * mostly reads, searches returning several patients' resources, some writes,
 * logins (a few failing), on behalf of users, with purposes of use.
 */
export function createMix(seed: number, failureEvery = 50): (i: number) => { ctx: AuditedContext; facts: EntryFacts } {
  let s = seed >>> 0;
  const rand = (n: number) => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
  const tenant = asTenantId('default');
  const types = ['Observation', 'Condition', 'MedicationRequest', 'Encounter', 'DiagnosticReport', 'Procedure'];
  const actions = ['read', 'read', 'read', 'read', 'read', 'read', 'search', 'search', 'create', 'update', 'vread', 'history', 'patch', 'delete', 'login'] as const;
  return (i) => {
    const client = rand(40);
    const user = rand(500);
    const action = actions[rand(actions.length)]!;
    const count = action === 'search' ? 1 + rand(8) : action === 'login' ? 0 : 1;
    const resources = Array.from({ length: count }, () => {
      const patient = `p-${rand(200_000)}`;
      const type = rand(5) === 0 ? 'Patient' : types[rand(types.length)]!;
      return { type, id: type === 'Patient' ? patient : `${type.toLowerCase()}-${rand(5_000_000)}`, version: 1 + rand(3), patient: `Patient/${patient}` };
    });
    const failed = action === 'login' ? rand(Math.max(2, Math.round(failureEvery / 5))) === 0 : rand(failureEvery) === 0;
    const ctx: AuditedContext = {
      tenant,
      requestId: `req-${i.toString(36)}-${rand(1 << 30).toString(36)}`,
      sourceIp: `10.${rand(4)}.${rand(256)}.${rand(256)}`,
      purposeOfUse: ['TREAT', 'TREAT', 'HPAYMT', 'HOPERAT'][rand(4)]!,
      principal: { subject: `user-${user}`, clientId: `client-${client}`, kind: 'user', scopes: [], onBehalfOf: `Practitioner/pr-${user}` } as AuditedContext['principal'],
    };
    const facts: EntryFacts = failed
      ? { action, outcome: 'failure', outcomeCode: action === 'login' ? 'AUTH_INVALID_CREDENTIALS' : 'FORBIDDEN', status: action === 'login' ? 401 : 403, resources }
      : { action, outcome: 'success', status: action === 'create' ? 201 : 200, resources };
    return { ctx, facts };
  };
}
