/**
 * HL7 v2 over MLLP, end to end (receive, parse, store encrypted, convert with
 * the real templates, persist FHIR in one transaction, ACK), against a Haven
 * child process (`haven serve`, both roles) on PostgreSQL.
 *
 *   node dist/bench/hl7v2-mllp.js [--connections 8] [--seconds 20] [--rate 500] [--paced-seconds 15] [--cpu-prof] [--label TEXT]
 *     [--mix mixed|update|create] [--patients 300] [--server-cwd DIR]
 *
 * Mixes: `mixed` (default) cycles ADT A01/A04/A08/A28/A31 and ORU R01 over
 * 5,000 patient ids, mostly new ones in a short run; `update` first admits
 * `--patients` patients (A01, during the warm-up) and then sends only A08,
 * A31 and ORU R01 for them, so every Patient and Encounter write updates a
 * stored resource; `create` sends A01/A04/A28 for a new patient each time.
 * `--server-cwd` runs another build's bin/haven.js (an A/B run against the
 * same driver).
 *
 * Phase 1, throughput: each connection sends its next message as soon as the
 * previous one is acknowledged. Phase 2, latency: messages are scheduled at a
 * fixed rate over the same connections; latency counts from the scheduled time
 * (no coordinated omission). External PostgreSQL from DATABASE_URL (a fresh
 * database is created there and dropped), else the embedded one.
 * The throughput phase also reports CPU per message of the server and of the
 * PostgreSQL backends of its database (external PostgreSQL only) and the
 * statements the server sent per message (bench/pg-count.ts preloaded).
 * `--cpu-prof` writes the server's CPU profile to bench/results/prof/.
 * `--label` is stored in the results (which build or setting was measured).
 * Results: bench/results/hl7v2-mllp-<date>.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { connectMllp, type MllpClient } from '../src/hl7v2/mllp/index.js';
import { ackCodeOf } from '../src/hl7v2/ingest/index.js';
import { createCpuMeter, perUnit, type CpuMeter } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { startServerChild } from './server-process.js';
import { freePort } from '../test/support/server.js';
import { positiveArg } from './options.js';
import { createSamples, round } from './stats.js';
import { generator, MIXES, SAMPLES_DIR, variant, type Generator, type Mix } from './hl7v2-mix.js';

const arg = (name: string, fallback: number) => positiveArg(name, fallback);

/** Admits `patients` patients (one A01 each) over `connections` connections: the stored resources an update mix updates. */
async function admit(port: number, connections: number, run: string, patients: number): Promise<void> {
  const a01 = readFileSync(join(SAMPLES_DIR, 'ADT-A01-01.hl7'), 'utf8');
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = await connectMllp({ host: '127.0.0.1', port });
      while (next < patients) {
        const p = next++;
        const ack = await c.send(variant(a01, `S${run}-${p}`, `BP-${run}-${p}`));
        if (ackCodeOf(ack) !== 'AA') throw new Error(`admitting patient ${p}: ${ack.split('\r').find((l) => l.startsWith('MSA')) ?? ack}`);
      }
      c.close();
    }),
  );
}

async function throughput(port: number, connections: number, seconds: number, gen: Generator) {
  let firstError: string | undefined;
  const codes: Record<string, number> = {};
  const latency = createSamples();
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = await connectMllp({ host: '127.0.0.1', port });
      while (performance.now() < until) {
        const t = performance.now();
        const ack = await c.send(gen.next());
        const code = ackCodeOf(ack) ?? '?';
        latency.add(performance.now() - t);
        if (code !== 'AA' && !firstError) firstError = ack.split('\r').find((l) => l.startsWith('MSA'));
        codes[code] = (codes[code] ?? 0) + 1;
      }
      c.close();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  return { connections, seconds: round(elapsed), messages: total, messagesPerSecond: round(total / elapsed, 1), acks: codes, ackLatency: latency.summary(), ...(firstError ? { firstError } : {}) };
}

async function paced(port: number, connections: number, rate: number, seconds: number, gen: Generator) {
  const clients: MllpClient[] = await Promise.all(Array.from({ length: connections }, () => connectMllp({ host: '127.0.0.1', port })));
  const idle = [...clients];
  const queue: number[] = [];
  const latency = createSamples();
  const codes: Record<string, number> = {};
  const started = performance.now();
  const total = Math.round(rate * seconds);
  let scheduled = 0;
  let inFlight = 0;
  let completed = 0;
  // Bounded: when the server is slower than the rate, stop after the window plus a grace period and say so.
  const deadline = started + seconds * 1000 + 10_000;
  await new Promise<void>((done) => {
    const giveUp = setTimeout(done, deadline - performance.now());
    const pump = () => {
      while (idle.length > 0 && queue.length > 0) {
        const c = idle.pop()!;
        const due = queue.shift()!;
        inFlight += 1;
        void c.send(gen.next()).then((ack) => {
          latency.add(performance.now() - due);
          completed += 1;
          const code = ackCodeOf(ack) ?? '?';
          codes[code] = (codes[code] ?? 0) + 1;
          inFlight -= 1;
          idle.push(c);
          pump();
          if (scheduled === total && inFlight === 0 && queue.length === 0) {
            clearTimeout(giveUp);
            done();
          }
        }, () => undefined); // a send still in flight when the window closed
      }
    };
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      while (scheduled < due) queue.push(started + (++scheduled * 1000) / rate);
      if (scheduled === total) clearInterval(tick);
      pump();
    }, 2);
  });
  for (const c of clients) c.close();
  const elapsed = (performance.now() - started) / 1000;
  return {
    rate, connections, seconds: round(elapsed), scheduled: total, completed, backlogAtEnd: total - completed,
    achievedPerSecond: round(completed / elapsed, 1), acks: codes, ackLatencyFromSchedule: latency.summary(),
  };
}

/**
 * Rows in the benchmark database's index tables (idx_*) and resource tables,
 * counted exactly: the growth per message is a load-independent figure of the
 * database work, where CPU per message moves with the neighbours' load.
 */
async function rowCounts(url: string): Promise<{ index: number; resources: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const tables = ['idx_string', 'idx_token', 'idx_date', 'idx_reference', 'idx_number', 'idx_quantity', 'idx_uri'];
    const res = await c.query<{ n: string }>(tables.map((t) => `SELECT count(*) AS n FROM ${t}`).join(' UNION ALL '));
    const resources = await c.query<{ n: string }>('SELECT count(*) AS n FROM resource_version');
    return { index: res.rows.reduce((a, r) => a + Number(r.n), 0), resources: Number(resources.rows[0]!.n) };
  } finally {
    await c.end();
  }
}

/**
 * Index rows inserted and deleted (pg_stat_user_tables) and the cluster's WAL
 * position. Backends report table counters at most once a second and an idle
 * one after 10 s, hence the wait. WAL is the whole cluster's: a per-message
 * figure only on a PostgreSQL the benchmark has to itself.
 */
async function writeCounters(url: string): Promise<{ inserted: number; deleted: number; walLsn: string }> {
  await new Promise((r) => setTimeout(r, 11_000));
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const res = await c.query<{ ins: string; del: string }>(
      `SELECT coalesce(sum(n_tup_ins), 0) AS ins, coalesce(sum(n_tup_del), 0) AS del FROM pg_stat_user_tables WHERE relname LIKE 'idx\\_%'`,
    );
    const wal = await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return { inserted: Number(res.rows[0]!.ins), deleted: Number(res.rows[0]!.del), walLsn: wal.rows[0]!.lsn };
  } finally {
    await c.end();
  }
}

async function walBytesBetween(url: string, from: string, to: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const res = await c.query<{ n: string }>('SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn) AS n', [from, to]);
    return Number(res.rows[0]!.n);
  } finally {
    await c.end();
  }
}

async function analyze(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('ANALYZE');
  await c.end();
}

async function main(): Promise<void> {
  const connections = arg('connections', 8);
  const seconds = arg('seconds', 15);
  const rate = arg('rate', 500);
  const pacedSeconds = arg('paced-seconds', 15);
  const run = randomBytes(3).toString('hex');
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-bench-hl7-'));
  const admin = process.env.DATABASE_URL;
  let databaseUrl: string | undefined;
  if (admin) {
    const u = new URL(admin);
    const name = `haven_bench_hl7_${run}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    u.pathname = `/${name}`;
    databaseUrl = u.toString();
  }
  const mllpPort = await freePort();
  process.env.HAVEN_MLLP_PORT = String(mllpPort);
  const countFile = process.env.BENCH_PG_COUNT_FILE ?? join(dataDir, 'pg-statements');
  const cpuProfDir = process.argv.includes('--cpu-prof') ? resolve('bench/results/prof') : undefined;
  process.env.BENCH_PG_COUNT_FILE = countFile;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${resolve('dist/bench/pg-count.js')}`.trim();
  const mixAt = process.argv.indexOf('--mix');
  const mix = (mixAt > 0 ? process.argv[mixAt + 1] : 'mixed') as Mix;
  if (!(mix in MIXES)) throw new Error(`--mix must be one of ${Object.keys(MIXES).join(', ')}`);
  const patients = arg('patients', 300);
  const cwdAt = process.argv.indexOf('--server-cwd');
  const serverCwd = cwdAt > 0 ? resolve(process.argv[cwdAt + 1]!) : undefined;
  const server = await startServerChild({
    dataDir,
    port: await freePort(),
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(cpuProfDir ? { cpuProfDir } : {}),
    ...(serverCwd ? { cwd: serverCwd } : {}),
  });
  let meter: CpuMeter | undefined;
  try {
    meter = await createCpuMeter(server.pid, databaseUrl, countFile);
    let created = 0;
    const patientOf: Record<Mix, (i: number) => string> = { mixed: (i) => String(i % 5000), update: (i) => String(i % patients), create: () => `new-${created++}` };
    const gen = generator(run, MIXES[mix], patientOf[mix]);
    if (mix === 'update') await admit(mllpPort, connections, run, patients);
    await throughput(mllpPort, connections, 3, gen); // warm-up: JIT, DEK cache, templates
    // A fresh database has no planner statistics; a running Haven has them (its maintenance analyzes).
    if (databaseUrl) await analyze(databaseUrl);
    const rowsBefore = databaseUrl ? await rowCounts(databaseUrl) : undefined;
    const writesBefore = databaseUrl ? await writeCounters(databaseUrl) : undefined;
    const loadAtStart = loadavg().map((v) => round(v));
    const before = await meter.snapshot();
    const tput = await throughput(mllpPort, connections, seconds, gen);
    const cpu = { ...perUnit(before, await meter.snapshot(), tput.messages), loadAverage: loadavg().map((v) => round(v)), loadAverageAtStart: loadAtStart };
    console.log('per message:', cpu);
    const rowsAfter = databaseUrl ? await rowCounts(databaseUrl) : undefined;
    const writesAfter = databaseUrl ? await writeCounters(databaseUrl) : undefined;
    // Rows written (inserted + deleted) and WAL per message: what a diffed index update saves.
    const writesPerMessage =
      databaseUrl && writesBefore && writesAfter
        ? {
            indexRowsInserted: round((writesAfter.inserted - writesBefore.inserted) / tput.messages, 1),
            indexRowsDeleted: round((writesAfter.deleted - writesBefore.deleted) / tput.messages, 1),
            clusterWalBytes: round((await walBytesBetween(databaseUrl, writesBefore.walLsn, writesAfter.walLsn)) / tput.messages, 0),
          }
        : undefined;
    if (writesPerMessage) console.log('writes per message:', writesPerMessage);
    // Net growth: the bench's messages mostly create (new patients), so this is close to the rows inserted.
    const rowsPerMessage =
      rowsBefore && rowsAfter
        ? {
            indexRows: round((rowsAfter.index - rowsBefore.index) / tput.messages, 1),
            resourceVersions: round((rowsAfter.resources - rowsBefore.resources) / tput.messages, 2),
          }
        : undefined;
    if (rowsPerMessage) console.log('rows per message:', rowsPerMessage);
    console.log(`throughput: ${tput.messagesPerSecond} messages/s over ${connections} connections (p99 ACK ${tput.ackLatency.p99Ms} ms)`, tput.acks, tput.firstError ?? '');
    const lat = await paced(mllpPort, connections, rate, pacedSeconds, gen);
    console.log(`paced ${rate}/s: achieved ${lat.achievedPerSecond}/s, ACK latency p50 ${lat.ackLatencyFromSchedule.p50Ms} ms, p99 ${lat.ackLatencyFromSchedule.p99Ms} ms`, lat.acks);
    // And at half the measured throughput, where latency is service time rather than queueing.
    const half = Math.max(1, Math.round(tput.messagesPerSecond / 2));
    const sustainable = await paced(mllpPort, connections, half, 10, gen);
    console.log(`paced ${half}/s: ACK latency p50 ${sustainable.ackLatencyFromSchedule.p50Ms} ms, p99 ${sustainable.ackLatencyFromSchedule.p99Ms} ms`, sustainable.acks);
    const labelAt = process.argv.indexOf('--label');
    const out = {
      benchmark: 'hl7v2-mllp',
      ...(labelAt > 0 && process.argv[labelAt + 1] ? { label: process.argv[labelAt + 1] } : {}),
      at: new Date().toISOString(),
      machine: machineFacts(),
      database: databaseUrl ? 'external' : 'embedded',
      mix,
      samples: MIXES[mix],
      ...(mix === 'update' ? { patients } : {}),
      ...(serverCwd ? { serverCwd } : {}),
      startupMs: server.startupMs,
      throughput: tput,
      cpuPerMessage: cpu,
      ...(rowsPerMessage ? { rowsPerMessage } : {}),
      ...(writesPerMessage ? { writesPerMessage } : {}),
      paced: lat,
      pacedAtHalfThroughput: sustainable,
    };
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/hl7v2-mllp-${out.at.slice(0, 19).replace(/:/g, '-')}.json`;
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`results: ${file}`);
  } finally {
    await meter?.close();
    await server.stop();
    if (admin && databaseUrl) {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${new URL(databaseUrl).pathname.slice(1)} WITH (FORCE)`);
      await c.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
