/**
 * Node CPU per audit entry, format v1 (in clear) vs v2 (details sealed under the
 * tenant's audit key, patient and entity blind tags): what the recorder does per
 * call before the INSERT (build the entry, seal, canonical bytes, leaf hash).
 * A and B alternate in rounds on the same process so machine load hits both.
 *
 *   node dist/bench/audit-seal.js   (needs TEST_DATABASE_URL or DATABASE_URL, or the embedded test cluster)
 * Options: BENCH_SEAL_CALLS (per round and shape, default 20000), BENCH_SEAL_ROUNDS (default 6).
 * Then the PostgreSQL side: CPU of the one backend (/proc/<pid>/stat, 10-ms ticks) per entry inserted
 * by insertEntries in batches of BENCH_SEAL_BATCH (default 16, a group commit under load), v1 vs v2
 * alternating, BENCH_SEAL_PG_ENTRIES per round (default 16000). Needs the database on this host.
 *
 *   node dist/bench/audit-seal.js --before /tmp/base
 * A/B of two builds instead: that build's audit modules are loaded into this process beside this
 * one's, and v2 entries (same keys, same tag cache state) of both alternate in every round, which
 * goes first alternating between rounds; per-round differences pair up under the same load. Process
 * CPU runs between builds differed by more than the change (load 5-10), so this is the A/B to use.
 * No PostgreSQL side in this mode (the INSERT is the same code and bytes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createAuditEntryCrypto } from '../src/audit/entry-crypto.js';
import { entryOf, toRow, type AuditedContext, type EntryFacts, type EntryRow } from '../src/audit/entry.js';
import { insertEntries } from '../src/audit/insert.js';
import { leafHash } from '../src/audit/merkle.js';
import { createKeyring, createLocalKms } from '../src/crypto/index.js';
import { asTenantId, silentLogger } from '../src/kernel/index.js';
import { createDb } from '../src/store/index.js';
import { createTestDb } from '../test/support/db.js';
import { cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';

const CALLS = Number(process.env.BENCH_SEAL_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_SEAL_ROUNDS ?? 6);

const ctx: AuditedContext = {
  tenant: asTenantId('default'),
  requestId: 'bench-request-0001',
  sourceIp: '10.1.2.3',
  principal: { subject: 'clinician-0042', clientId: 'ehr-app', kind: 'user', scopes: [] },
};

/** A read (one resource) and a search page of 20 resources over 5 patients. */
const shapes: Record<string, (i: number) => EntryFacts> = {
  read: (i) => ({ action: 'read', outcome: 'success', resources: [{ type: 'Observation', id: `obs-${i}`, version: 3, patient: `Patient/p-${i % 1000}` }] }),
  search20: (i) => ({
    action: 'search',
    outcome: 'success',
    resources: Array.from({ length: 20 }, (_, k) => ({ type: 'Observation', id: `obs-${i}-${k}`, version: 1, patient: `Patient/p-${(i + (k % 5)) % 1000}` })),
  }),
};

function cpuMicros(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

const beforeArg = process.argv.indexOf('--before');
const BEFORE = beforeArg >= 0 ? process.argv[beforeArg + 1] : undefined;

/** Seals and encodes one v2 entry with a build's own modules (this one's, or another build's under dist/src/). */
type SealRun = (facts: EntryFacts) => Promise<void>;

async function buildRun(srcUrl: string, keyring: ReturnType<typeof createKeyring>, now: Date): Promise<SealRun> {
  const load = async (path: string) => (await import(new URL(path, srcUrl).href)) as Record<string, unknown>;
  const [entryCrypto, entry] = await Promise.all(['audit/entry-crypto.js', 'audit/entry.js'].map(load));
  /* eslint-disable @typescript-eslint/no-explicit-any -- another build's modules, typed as this build's would be wrong */
  const m = { ...entryCrypto, ...entry } as any;
  const crypto = m.createAuditEntryCrypto(keyring);
  return async (facts) => {
    const [sealed] = await crypto.seal('default', [m.entryOf(ctx, 'bench-node', now, facts)], false);
    m.toRow(sealed);
  };
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

/** `--before`: v2 entries of this build and another, alternating in every round. */
async function compareBuilds(before: string): Promise<void> {
  const load0 = loadavg();
  const testDb = await createTestDb();
  const keyDir = mkdtempSync(join(tmpdir(), 'haven-bench-seal-'));
  const kms = createLocalKms({ dataDir: keyDir, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db: testDb.db, kms, refreshMs: 3_600_000 });
  const now = new Date();
  try {
    const runs: Record<'after' | 'before', SealRun> = {
      after: await buildRun(new URL('../src/', import.meta.url).href, keyring, now),
      before: await buildRun(pathToFileURL(`${resolve(before)}/dist/src/`).href, keyring, now),
    };
    const results: Record<string, unknown> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      const calls = name === 'read' ? CALLS : Math.max(1, Math.floor(CALLS / 10));
      for (const run of Object.values(runs)) for (let i = 0; i < 2000; i++) await run(shape(i)); // warm-up (JIT, tag cache)
      const s = { after: [] as number[], before: [] as number[] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const which of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
          const t0 = process.cpuUsage();
          for (let i = 0; i < calls; i++) await runs[which](shape(i));
          s[which].push(cpuMicros(t0) / calls);
        }
      }
      const diffs = s.after.map((x, i) => x - s.before[i]!);
      results[name] = {
        callsPerRound: calls,
        beforeMicrosPerEntry: +median(s.before).toFixed(2),
        afterMicrosPerEntry: +median(s.after).toFixed(2),
        afterMinusBeforeMedian: +median(diffs).toFixed(2),
        afterMinusBeforePerRound: diffs.map((x) => +x.toFixed(2)),
        roundsBefore: s.before.map((x) => +x.toFixed(2)),
        roundsAfter: s.after.map((x) => +x.toFixed(2)),
      };
    }
    const out = {
      bench: 'audit-seal --before',
      what: 'Node CPU (process.cpuUsage user+system) per v2 audit entry (build, seal, canonical bytes, leaf hash) of two builds in one process, alternating in every round; medians of rounds and of per-round differences',
      rounds: ROUNDS,
      builds: { after: resolve('.'), before: resolve(before) },
      machine: { ...machineFacts(), loadavgStart: load0, loadavgEnd: loadavg() },
      results,
    };
    console.log(JSON.stringify(out, null, 2));
    if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await keyring.close();
    await kms.close();
    await testDb.drop();
    rmSync(keyDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const load0 = loadavg();
  const testDb = await createTestDb();
  const keyDir = mkdtempSync(join(tmpdir(), 'haven-bench-seal-'));
  const kms = createLocalKms({ dataDir: keyDir, env: 'test', logger: silentLogger });
  // Refresh beyond the run: the figure is the steady state (cached keys), not the 5-s status re-check query.
  const keyring = createKeyring({ db: testDb.db, kms, refreshMs: 3_600_000 });
  const crypto = createAuditEntryCrypto(keyring);
  const now = new Date();
  await crypto.seal('default', [entryOf(ctx, 'n', now, shapes['read']!(0))], false); // creates and caches the keys

  const v1 = async (facts: EntryFacts) => {
    const row = toRow(entryOf(ctx, 'bench-node', now, facts));
    leafHash(row.canonical);
  };
  const v2 = async (facts: EntryFacts) => {
    const [sealed] = await crypto.seal('default', [entryOf(ctx, 'bench-node', now, facts)], false);
    leafHash(toRow(sealed!).canonical);
  };

  const samples: Record<string, { v1: number[]; v2: number[]; bytesV1: number; bytesV2: number }> = {};
  const empty = () => ({ v1: [] as number[], v2: [] as number[], bytesV1: 0, bytesV2: 0 });
  for (const [name, shape] of Object.entries(shapes)) {
    const s = (samples[name] = empty());
    s.bytesV1 = toRow(entryOf(ctx, 'bench-node', now, shape(1))).canonical.length;
    s.bytesV2 = toRow((await crypto.seal('default', [entryOf(ctx, 'bench-node', now, shape(1))], false))[0]!).canonical.length;
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so warm-up and drift do not favour one.
      for (const which of r % 2 === 0 ? (['v1', 'v2'] as const) : (['v2', 'v1'] as const)) {
        const run = which === 'v1' ? v1 : v2;
        const t0 = process.cpuUsage();
        for (let i = 0; i < CALLS; i++) await run(shape(i));
        s[which].push(cpuMicros(t0) / CALLS);
      }
    }
  }
  const pgSide = await pgCpuPerEntry(testDb.url, crypto, now);
  const results = Object.fromEntries(
    Object.entries(samples).map(([name, s]) => [
      name,
      {
        cpuMicrosPerEntryV1: +median(s.v1).toFixed(2),
        cpuMicrosPerEntryV2: +median(s.v2).toFixed(2),
        addedMicrosPerEntry: +(median(s.v2) - median(s.v1)).toFixed(2),
        roundsV1: s.v1.map((x) => +x.toFixed(2)),
        roundsV2: s.v2.map((x) => +x.toFixed(2)),
        canonicalBytesV1: s.bytesV1,
        canonicalBytesV2: s.bytesV2,
      },
    ]),
  );
  const out = {
    bench: 'audit-seal',
    what: 'Node CPU (process.cpuUsage user+system) per audit entry: build + canonical bytes + leaf hash, v1 vs v2 (seal + blind tags); median of alternating rounds',
    callsPerRound: CALLS,
    rounds: ROUNDS,
    machine: { ...machineFacts(), loadavgStart: load0, loadavgEnd: loadavg() },
    commit: '2068c4a + worktree changes',
    results,
    postgresInsert: {
      what: 'PostgreSQL backend CPU (utime+stime, 10-ms ticks) per entry of insertEntries, read entries in batches; median of alternating rounds',
      batchEntries: PG_BATCH,
      entriesPerRound: PG_ENTRIES,
      cpuMicrosPerEntryV1: +median(pgSide.v1).toFixed(2),
      cpuMicrosPerEntryV2: +median(pgSide.v2).toFixed(2),
      roundsV1: pgSide.v1.map((x) => +x.toFixed(2)),
      roundsV2: pgSide.v2.map((x) => +x.toFixed(2)),
    },
  };
  console.log(JSON.stringify(out, null, 2));
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(out, null, 2)}\n`);
  await keyring.close();
  await kms.close();
  await testDb.drop();
  rmSync(keyDir, { recursive: true, force: true });
}

const PG_BATCH = Number(process.env.BENCH_SEAL_BATCH ?? 16);
const PG_ENTRIES = Number(process.env.BENCH_SEAL_PG_ENTRIES ?? 16_000);

/** One connection, so one backend's CPU is the whole cost of the inserts. */
async function pgCpuPerEntry(url: string, crypto: ReturnType<typeof createAuditEntryCrypto>, now: Date): Promise<{ v1: number[]; v2: number[] }> {
  const db = createDb({ connectionString: url, maxConnections: 1 });
  try {
    const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const rowsOf = async (version: 1 | 2): Promise<EntryRow[]> => {
      const entries = Array.from({ length: PG_ENTRIES }, (_, i) => entryOf(ctx, 'bench-node', now, shapes['read']!(i)));
      if (version === 1) return entries.map(toRow);
      return (await crypto.seal('default', entries, false)).map(toRow);
    };
    const out = { v1: [] as number[], v2: [] as number[] };
    for (let r = 0; r < 3; r++) {
      for (const version of r % 2 === 0 ? ([1, 2] as const) : ([2, 1] as const)) {
        const rows = await rowsOf(version);
        const before = cpuMsOf(pid);
        for (let i = 0; i < rows.length; i += PG_BATCH) await insertEntries(db, rows.slice(i, i + PG_BATCH));
        out[version === 1 ? 'v1' : 'v2'].push(((cpuMsOf(pid) - before) * 1000) / rows.length);
      }
    }
    return out;
  } finally {
    await db.close();
  }
}

await (BEFORE ? compareBuilds(BEFORE) : main());
