/**
 * The Node CPU encryption adds to one read by id, in process, without HTTP or
 * PostgreSQL: what the read path does with encryption on (open the body under
 * the tenant's `resources` DEK; seal the read's audit entry as v2 — blind tags
 * plus the details under the `audit` DEK — and encode it) against what it does
 * with HAVEN_ENCRYPTION=off (UTF-8 body; v1 entry). The end-to-end figure is
 * bench/overhead.ts; this isolates the crypto path so a change to it can be
 * A/B-tested in seconds (run the same file against another build's dist/src).
 * Plain and encrypted alternate in rounds on one process, so load hits both.
 *
 *   node dist/bench/enc-read-path.js [--calls 20000] [--rounds 7]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditEntryCrypto } from '../src/audit/entry-crypto.js';
import { entryOf, toRow, type AuditedContext, type EntryFacts } from '../src/audit/entry.js';
import { leafHash } from '../src/audit/merkle.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, type SqlDb } from '../src/crypto/index.js';
import { asTenantId, silentLogger } from '../src/kernel/index.js';
import { plaintextCodec } from '../src/store/body-codec.js';
import { synthesize } from '../src/synth/index.js';
import { positiveArg } from './options.js';

const CALLS = positiveArg('calls', 20_000);
const ROUNDS = positiveArg('rounds', 7);

/** Just enough of the data_key table, in memory, so the key ring runs without a database. */
function memoryKeyTable(): SqlDb {
  const rows: Record<string, unknown>[] = [];
  const db: SqlDb = {
    async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
      if (sql.trimStart().startsWith('INSERT')) {
        if (!rows.some((r) => r.tenant_id === params[0] && r.purpose === params[1])) {
          rows.push({ tenant_id: params[0], purpose: params[1], version: 1, status: 'active', kek_id: params[2], wrapped: params[3] });
        }
        return { rows: [] as R[] };
      }
      if (sql.includes('bool_and')) return { rows: [{ shredded: false }] as unknown as R[] };
      return { rows: rows.filter((r) => r.tenant_id === params[0] && r.purpose === params[1] && (params[2] === undefined || r.version === params[2])) as R[] };
    },
    transaction: (work) => work(db),
  };
  return db;
}

const ctx: AuditedContext = {
  tenant: asTenantId('default'),
  requestId: 'bench-request-0001',
  sourceIp: '10.1.2.3',
  principal: { subject: 'clinician-0042', clientId: 'ehr-app', kind: 'user', scopes: [] },
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-enc-read-'));
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  // Refresh beyond the run: the steady state (cached keys), as in the server between status checks.
  const keyring = createKeyring({ db: memoryKeyTable(), kms, refreshMs: 3_600_000 });
  const codec = createEnvelopeCodec({ keyring });
  const audit = createAuditEntryCrypto(keyring);

  // The benchmark's read mix: Patients and Observations of synthetic bundles.
  const docs: { type: string; id: string; json: string }[] = [];
  for (const bundle of synthesize({ patients: 40, seed: 7 })) {
    for (const e of bundle.entry) {
      const r = e.resource as { resourceType: string; id?: string };
      if (r.resourceType === 'Patient' || r.resourceType === 'Observation') docs.push({ type: r.resourceType, id: r.id ?? `r${docs.length}`, json: JSON.stringify(r) });
    }
  }
  const ids = docs.map((d) => ({ tenant: 'default', resourceType: d.type, id: d.id, versionId: 1 }));
  const sealed = await Promise.all(docs.map((d, i) => codec.encode(ids[i]!, d.json)));
  const plain = docs.map((d) => Buffer.from(d.json, 'utf8'));
  const facts = (i: number): EntryFacts => {
    const d = docs[i % docs.length]!;
    return { action: 'read', outcome: 'success', resources: [{ type: d.type, id: d.id, version: 1, patient: `Patient/p-${i % 1000}` }] };
  };
  const now = new Date();

  const off = async (i: number) => {
    const k = i % docs.length;
    await plaintextCodec.decode(ids[k]!, plain[k]!);
    leafHash(toRow(entryOf(ctx, 'bench-node', now, facts(i))).canonical);
  };
  const on = async (i: number) => {
    const k = i % docs.length;
    await codec.decode(ids[k]!, sealed[k]!);
    const [entry] = await audit.seal('default', [entryOf(ctx, 'bench-node', now, facts(i))], false);
    leafHash(toRow(entry!).canonical);
  };
  for (let i = 0; i < 2000; i++) await on(i); // warm-up (JIT, tag cache)
  for (let i = 0; i < 2000; i++) await off(i);

  const samples = { off: [] as number[], on: [] as number[] };
  const load0 = loadavg()[0]!;
  for (let r = 0; r < ROUNDS; r++) {
    for (const which of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const run = which === 'off' ? off : on;
      const t0 = process.cpuUsage();
      for (let i = 0; i < CALLS; i++) await run(i);
      const d = process.cpuUsage(t0);
      samples[which].push((d.user + d.system) / CALLS);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const result = {
    bench: 'enc-read-path',
    what: 'Node CPU µs per read (process.cpuUsage): body decode + audit entry (build, seal, canonical bytes, leaf hash); encryption on vs off; median of alternating rounds',
    calls: CALLS,
    rounds: ROUNDS,
    loadAverage1m: { start: load0, end: loadavg()[0]! },
    offMicros: +median(samples.off).toFixed(2),
    onMicros: +median(samples.on).toFixed(2),
    addedMicros: +(median(samples.on) - median(samples.off)).toFixed(2),
    roundsOff: samples.off.map((x) => +x.toFixed(2)),
    roundsOn: samples.on.map((x) => +x.toFixed(2)),
  };
  console.log(JSON.stringify(result));
  await keyring.close();
  await kms.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
