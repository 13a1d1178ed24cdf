/**
 * The Node CPU encryption adds to one read by id, in process, without HTTP or
 * PostgreSQL: what the read path does with encryption on (decode the stored
 * row, i.e. open the body under the tenant's `resources` DEK; seal the read's
 * audit entry as v2 — blind tags plus the details under the `audit` DEK — and
 * encode it) against what it does with HAVEN_ENCRYPTION=off (UTF-8 body; v1
 * entry). The end-to-end figure is bench/overhead.ts; this isolates the
 * crypto path so a change to it can be A/B-tested in seconds. Plain and
 * encrypted alternate in rounds on one process, so load hits both.
 *
 *   node dist/bench/enc-read-path.js [--calls 20000] [--rounds 7] [--before /tmp/base] [--out name]
 *
 * `--before <directory of another built checkout>` loads that build's modules
 * into the same process too, and alternates builds as well as configurations
 * in every round (which goes first alternating between rounds): the two builds
 * see the same load, and the per-round differences pair up.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuditedContext, EntryFacts } from '../src/audit/entry.js';
import type { SqlDb } from '../src/crypto/index.js';
import { asTenantId } from '../src/kernel/index.js';
import { synthesize } from '../src/synth/index.js';
import { machineFacts } from './machine.js';
import { positiveArg } from './options.js';

const CALLS = positiveArg('calls', 20_000);
const ROUNDS = positiveArg('rounds', 7);
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

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

// The benchmark's read mix: Patients and Observations of synthetic bundles.
const docs: { type: string; id: string; json: string }[] = [];
for (const bundle of synthesize({ patients: 40, seed: 7 })) {
  for (const e of bundle.entry) {
    const r = e.resource as { resourceType: string; id?: string };
    if (r.resourceType === 'Patient' || r.resourceType === 'Observation') docs.push({ type: r.resourceType, id: r.id ?? `r${docs.length}`, json: JSON.stringify(r) });
  }
}
const facts = (i: number): EntryFacts => {
  const d = docs[i % docs.length]!;
  return { action: 'read', outcome: 'success', resources: [{ type: d.type, id: d.id, version: 1, patient: `Patient/p-${i % 1000}` }] };
};

type Mod = Record<string, (...args: never[]) => unknown>;
type Run = (i: number) => Promise<void>;

/**
 * The two read paths of one build, from its compiled modules under `srcUrl`
 * (loaded dynamically, so another build's code runs unchanged beside this one).
 * Rows are decoded as the store decodes them (store/read.js decodeRow).
 */
async function readPaths(srcUrl: string, dir: string) {
  const load = async (path: string) => (await import(new URL(path, srcUrl).href)) as Mod;
  const [entryCrypto, entry, merkle, crypto, kernel, bodyCodec, read] = await Promise.all(
    ['audit/entry-crypto.js', 'audit/entry.js', 'audit/merkle.js', 'crypto/index.js', 'kernel/index.js', 'store/body-codec.js', 'store/read.js'].map(load),
  );
  /* eslint-disable @typescript-eslint/no-explicit-any -- another build's modules, typed as this build's would be wrong */
  const m = { ...entryCrypto, ...entry, ...merkle, ...crypto, ...kernel, ...bodyCodec, ...read } as any;
  const kms = m.createLocalKms({ dataDir: dir, env: 'test', logger: m.silentLogger });
  // Refresh beyond the run: the steady state (cached keys), as in the server between status checks.
  const keyring = m.createKeyring({ db: memoryKeyTable(), kms, refreshMs: 3_600_000 });
  const codec = m.createEnvelopeCodec({ keyring });
  const audit = m.createAuditEntryCrypto(keyring);
  const now = new Date();
  const row = (content: Buffer, k: number) => ({ resource_type: docs[k]!.type, id: docs[k]!.id, version_id: '1', last_updated: now, deleted: false, content });
  const sealed = await Promise.all(docs.map(async (d, k) => row(await codec.encode({ tenant: 'default', resourceType: d.type, id: d.id, versionId: 1 }, d.json), k)));
  const plain = docs.map((d, k) => row(Buffer.from(d.json, 'utf8'), k));
  const off: Run = async (i) => {
    await m.decodeRow('default', plain[i % docs.length]!, m.plaintextCodec);
    m.leafHash(m.toRow(m.entryOf(ctx, 'bench-node', now, facts(i))).canonical);
  };
  const on: Run = async (i) => {
    await m.decodeRow('default', sealed[i % docs.length]!, codec);
    const [sealedEntry] = await audit.seal('default', [m.entryOf(ctx, 'bench-node', now, facts(i))], false);
    m.leafHash(m.toRow(sealedEntry).canonical);
  };
  /* eslint-enable @typescript-eslint/no-explicit-any */
  for (let i = 0; i < 2000; i++) await on(i); // warm-up (JIT, tag cache)
  for (let i = 0; i < 2000; i++) await off(i);
  return { off, on, close: async () => (await keyring.close(), await kms.close()) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-enc-read-'));
  const before = arg('before');
  const builds: Record<string, string> = { after: new URL('../src/', import.meta.url).href };
  if (before) builds.before = pathToFileURL(`${resolve(before)}/dist/src/`).href;
  const paths = Object.fromEntries(await Promise.all(Object.entries(builds).map(async ([b, url]) => [b, await readPaths(url, dir)] as const)));
  const samples: Record<string, number[]> = {};
  const load0 = loadavg()[0]!;
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? Object.keys(paths) : Object.keys(paths).reverse();
    for (const b of order) {
      for (const which of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const run = paths[b]![which];
        const t0 = process.cpuUsage();
        for (let i = 0; i < CALLS; i++) await run(i);
        const d = process.cpuUsage(t0);
        (samples[`${b}/${which}`] ??= []).push((d.user + d.system) / CALLS);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const r2 = (x: number) => +x.toFixed(2);
  const summary = Object.fromEntries(
    Object.keys(paths).map((b) => {
      const off = samples[`${b}/off`]!;
      const on = samples[`${b}/on`]!;
      return [b, { offMicros: r2(median(off)), onMicros: r2(median(on)), addedMicros: r2(median(on.map((x, i) => x - off[i]!))), roundsOff: off.map(r2), roundsOn: on.map(r2) }];
    }),
  );
  const result = {
    bench: 'enc-read-path',
    what: 'Node CPU µs per read (process.cpuUsage): decode the stored row + audit entry (build, seal, canonical bytes, leaf hash); encryption on vs off; median of alternating rounds (addedMicros: median of per-round on − off)',
    at: new Date().toISOString(),
    machine: machineFacts(),
    calls: CALLS,
    rounds: ROUNDS,
    builds: { after: resolve('.'), ...(before ? { before: resolve(before) } : {}) },
    loadAverage1m: { start: load0, end: loadavg()[0]! },
    ...summary,
    ...(before ? { onAfterMinusBeforePerRound: samples['after/on']!.map((x, i) => r2(x - samples['before/on']![i]!)) } : {}),
  };
  console.log(JSON.stringify(result));
  const out = arg('out');
  if (out) {
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
  }
  for (const p of Object.values(paths)) await p.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
