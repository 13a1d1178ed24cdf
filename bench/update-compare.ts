/**
 * What the no-op check adds to an update that does change something
 * (src/store/write.ts, unchangedVersion): the current body comes back with the
 * row lock, is decrypted (envelope codec, DEK cached), parsed and compared.
 *  1. In process, per resource, on realistic synthetic resources: decode,
 *     JSON.parse + sameContent against a body that differs only in its last
 *     member (the comparison walks nearly all of it), and for scale what any
 *     version write costs here anyway (JSON.stringify + encode).
 *  2. With DATABASE_URL (an external PostgreSQL; a fresh database is created
 *     and dropped): the row-lock statement for 10 updates, with and without
 *     the bodies (the `CASE` that creates and deletes take), alternating.
 *
 *   node dist/bench/update-compare.js [--seconds 1] [--label TEXT]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import type { FhirResource } from '../src/store/index.js';
import { sameContent } from '../src/store/same-content.js';
import { synthesize } from '../src/synth/index.js';
import { machineFacts } from './machine.js';
import { benchCodec } from './memory-key-table.js';
import { adminQuery, freshDatabase } from './pg-admin.js';
import { round } from './stats.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 1;

/** Microseconds of this process's CPU per call of fn over every doc, repeated for `seconds`. */
async function cpuUs(n: number, fn: (i: number) => unknown): Promise<number> {
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < n; i++) await fn(i);
    calls += n;
  }
  const cpu = process.cpuUsage(cpu0);
  return round((cpu.user + cpu.system) / calls, 2);
}

async function inProcess() {
  const { codec, close } = benchCodec('haven-bench-compare-');
  const stored: string[] = [];
  for (const bundle of synthesize({ patients: 40, seed: 7 })) {
    for (const e of bundle.entry) {
      const { resourceType, id, ...rest } = e.resource as FhirResource;
      stored.push(JSON.stringify({ resourceType, id, meta: { versionId: '1', lastUpdated: new Date().toISOString() }, ...rest }));
    }
  }
  const ids = stored.map((_, i) => ({ tenant: 'default', resourceType: 'Observation', id: `r${i}`, versionId: 1 }));
  const sealed = await Promise.all(stored.map((d, i) => codec.encode(ids[i]!, d)));
  // The update: the stored body with its last member changed, stamped for version 2.
  const changed = stored.map((d) => {
    const r = JSON.parse(d) as FhirResource;
    const last = Object.keys(r).at(-1)!;
    return { ...r, meta: { versionId: '2', lastUpdated: new Date().toISOString() }, [last]: 'changed' } as FhirResource;
  });
  const n = stored.length;
  const result = {
    resources: n,
    meanBytes: Math.round(stored.reduce((a, d) => a + Buffer.byteLength(d), 0) / n),
    decodeUs: await cpuUs(n, (i) => codec.decode(ids[i]!, sealed[i]!)),
    parseAndCompareUs: await cpuUs(n, (i) => sameContent(JSON.parse(stored[i]!) as FhirResource, changed[i]!)),
    versionWriteUs: await cpuUs(n, (i) => codec.encode({ ...ids[i]!, versionId: 2 }, JSON.stringify(changed[i]!))),
  };
  await close();
  return { ...result, addedPerChangingUpdateUs: round(result.decodeUs + result.parseAndCompareUs) };
}

/** The lock statement of write.ts for 10 targets, bodies asked for or not, alternating; ms per statement (client wall clock). */
async function lockStatement(adminUrl: string) {
  const name = `haven_bench_compare_${randomBytes(3).toString('hex')}`;
  const url = await freshDatabase(adminUrl, name);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE TABLE resource (tenant_id text, resource_type text, id text, version_id bigint, last_updated timestamptz, deleted boolean, content bytea, PRIMARY KEY (tenant_id, resource_type, id))`);
    // Encrypted bodies do not compress: 3 KB of random bytes is stored out of line (TOAST), like a real one of that size.
    await c.query(`INSERT INTO resource SELECT 'default', 'Patient', 'p' || g, 1, now(), false, convert_to(array_to_string(ARRAY(SELECT md5(random()::text || x || g) FROM generate_series(1, 96) x), ''), 'UTF8') FROM generate_series(1, 20000) g`);
    await c.query('ANALYZE resource');
    const text = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, CASE WHEN t.body AND NOT r.deleted THEN r.content END AS content
      FROM UNNEST($2::text[], $3::text[], $4::boolean[]) AS t(resource_type, id, body)
      JOIN resource r ON r.tenant_id = $1 AND r.resource_type = t.resource_type AND r.id = t.id
      ORDER BY r.resource_type, r.id FOR UPDATE OF r`;
    const time = { body: 0, none: 0 };
    const rounds = Math.max(200, Math.round(seconds * 400));
    for (let k = 0; k < rounds; k++) {
      const ids = Array.from({ length: 10 }, () => `p${1 + Math.floor(Math.random() * 20000)}`);
      for (const body of k % 2 ? [true, false] : [false, true]) {
        const t0 = performance.now();
        await c.query('BEGIN');
        await c.query({ name: `lock-${body}`, text, values: ['default', ids.map(() => 'Patient'), ids, ids.map(() => body)] });
        await c.query('ROLLBACK');
        time[body ? 'body' : 'none'] += performance.now() - t0;
      }
    }
    return { rounds, targets: 10, bodyBytes: 3072, msWithBodies: round(time.body / rounds, 3), msWithoutBodies: round(time.none / rounds, 3) };
  } finally {
    await c.end();
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

const labelAt = process.argv.indexOf('--label');
const out = {
  benchmark: 'update-compare',
  ...(labelAt > 0 ? { label: process.argv[labelAt + 1] } : {}),
  at: new Date().toISOString(),
  machine: machineFacts(),
  loadAverageAtStart: loadavg().map((v) => round(v)),
  inProcess: await inProcess(),
  ...(process.env.DATABASE_URL ? { lockStatement: await lockStatement(process.env.DATABASE_URL) } : {}),
  loadAverage: loadavg().map((v) => round(v)),
};
console.log(JSON.stringify(out, null, 2));
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/update-compare-${out.at.slice(0, 10)}.json`;
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
console.log(`results: ${file}`);
