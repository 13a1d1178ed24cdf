/**
 * Where the audit's cost per read goes: the read-by-id measurement of
 * bench/path-cpu.ts, audited and with HAVEN_AUDIT=off, the server under
 * `--cpu-prof`. Per read it reports the server's and PostgreSQL's CPU (from
 * /proc, as overhead-ab), the profile's Node time by phase inside the read
 * window only (bench/profile-phases.ts), the difference audited − off by
 * phase (driver, HTTP, GC and event-loop work the audit adds outside
 * src/audit/ shows up there), the audit samples by the innermost
 * src/audit file on their stack, and the statements sent per read by shape.
 * The profiler itself costs CPU: compare shares and differences, and take
 * absolute CPU per read from overhead-ab.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/audit-attribution.js [--build dir] [--rounds 1] [--no-prof] [--keep-prof DIR] [--patients 40] [--reads 20000] [--compare audit|encryption] [--out name]
 *
 * `--compare encryption` splits encryption's cost the same way (encrypted vs
 * HAVEN_ENCRYPTION=off, the audit on in both).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { measurePathCpu } from './path-cpu.js';
import { splitPhases, type Profile } from './profile-phases.js';
import { round } from './stats.js';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
const build = resolve(stringArg('build') ?? '.');
const rounds = positiveArg('rounds', 1);
const spec = { adminUrl, patients: positiveArg('patients', 40), concurrency: 3, reads: positiveArg('reads', 20000), readConcurrency: 16 };
// `--no-prof`: the same figures without the profiler's own cost (no phase split).
const profiled = !process.argv.includes('--no-prof');
// `--compare encryption`: the same split for encryption on vs HAVEN_ENCRYPTION=off (audit on in both).
const compare = stringArg('compare') ?? 'audit';
if (compare !== 'audit' && compare !== 'encryption') throw new Error('--compare is audit or encryption');
const configs: Record<string, Record<string, string>> =
  compare === 'audit' ? { audited: {}, unaudited: { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' } } : { encrypted: {}, plain: { HAVEN_ENV: 'test', HAVEN_ENCRYPTION: 'off' } };
const [on, off] = Object.keys(configs) as [string, string];

const perRead = (us: number, reads: number) => round(us / reads, 1);
const runs: Record<string, unknown[]> = { [on]: [], [off]: [] };
const phaseUs: Record<string, Map<string, number[]>> = { [on]: new Map(), [off]: new Map() };
for (let r = 0; r < rounds; r++) {
  for (const config of r % 2 === 0 ? [on, off] : [off, on]) {
    // `--keep-prof DIR`: the profiles stay in DIR/<config>-<round> (for profile-summary); a temporary directory otherwise.
    const keep = stringArg('keep-prof');
    const profDir = keep ? resolve(keep, `${config}-${r + 1}`) : mkdtempSync(join(tmpdir(), 'haven-aread-prof-'));
    mkdirSync(profDir, { recursive: true });
    try {
      const m = await measurePathCpu({ ...spec, env: configs[config]!, cwd: build, ...(profiled ? { cpuProfDir: profDir } : {}), shapes: true });
      const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (profiled && !file) throw new Error('the server wrote no profile');
      const profile: Profile = file ? (JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Profile) : { nodes: [], samples: [], timeDeltas: [] };
      const split = splitPhases(profile, m.readWindowUs);
      const reads = m.read.requests;
      const phases = Object.fromEntries([...split.totals].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).map(([k, t]) => [k, perRead(t, reads)]));
      for (const [k, v] of Object.entries(phases)) phaseUs[config]!.set(k, [...(phaseUs[config]!.get(k) ?? []), v]);
      runs[config]!.push({
        reads,
        readPerSecond: m.read.perSecond,
        nodeCpuUsPerRead: round(m.perRead.nodeCpuMsPerUnit * 1000, 1),
        nodeMainThreadCpuUsPerRead: round(m.perRead.nodeMainThreadCpuMsPerUnit * 1000, 1),
        nodeSysCpuUsPerRead: round(m.perRead.nodeSysCpuMsPerUnit * 1000, 1),
        pgCpuUsPerRead: round(m.perRead.pgCpuMsPerUnit * 1000, 1),
        statementsPerRead: m.perRead.statementsPerUnit,
        ingest: { nodeCpuUsPerResource: round(m.perResource.nodeCpuMsPerUnit * 1000, 1), pgCpuUsPerResource: round(m.perResource.pgCpuMsPerUnit * 1000, 1), statementsPerResource: m.perResource.statementsPerUnit },
        batches: m.readAuditBatches,
        profileBusyUsPerRead: perRead(split.busy, reads),
        profilePhasesUsPerRead: phases,
        auditFilesUsPerRead: Object.fromEntries([...split.auditFiles].sort((a, b) => b[1] - a[1]).map(([k, t]) => [k, perRead(t, reads)])),
        statementShapesPerRead: m.readShapes,
        load1m: round(loadavg()[0]!),
      });
      console.error(`[audit-attribution] round ${r + 1} ${config}: node ${m.perRead.nodeCpuMsPerUnit} pg ${m.perRead.pgCpuMsPerUnit} ms/read, busy ${perRead(split.busy, reads)} µs/read`);
    } finally {
      if (!keep) rmSync(profDir, { recursive: true, force: true });
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const names = new Set([...phaseUs[on]!.keys(), ...phaseUs[off]!.keys()]);
// Median profile µs per read by phase, on minus off: what the audit (or encryption) adds in each.
const phaseDelta = Object.fromEntries(
  [...names]
    .map((k) => [k, round(median(phaseUs[on]!.get(k) ?? [0]) - median(phaseUs[off]!.get(k) ?? [0]), 1)] as const)
    .sort((a, b) => b[1] - a[1]),
);
const result = {
  benchmark: 'audit-attribution',
  at: new Date().toISOString(),
  machine: machineFacts(),
  build,
  spec: { ...spec, adminUrl: undefined, rounds, profiled, compare, configs },
  phaseDeltaUsPerRead: phaseDelta,
  runs,
};
mkdirSync('bench/results', { recursive: true });
const out = `bench/results/${stringArg('out') ?? `audit-attribution-${result.at.slice(0, 16).replace(/:/g, '-')}`}.json`;
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ phaseDeltaUsPerRead: phaseDelta }, null, 1));
console.log(`written to ${out}`);
