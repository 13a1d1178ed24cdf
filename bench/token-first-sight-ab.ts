/**
 * First-sight token verification CPU, A/B (issue 5: token verification ≤ 0.2 ms
 * per request). Each round runs one child process per build in ABBA order; the
 * child imports that build's verifier, signs tokens beforehand (signing is not
 * part of a request), warms up, then verifies each measured token once. The
 * figure is Node process CPU per verification (process.cpuUsage, which includes
 * the libuv thread pool that WebCrypto uses), robust to load from other
 * processes; wall time is recorded beside it. Keys and revocations are cached
 * before the window, so PostgreSQL does no work there: the child counts the
 * queries issued in the window to show it.
 *
 *   node dist/bench/token-first-sight-ab.js <base-root> [rounds=4] [out.json]
 *   (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machineFacts } from './machine.js';

const ISS = 'https://haven.bench';
const TOKENS = 4_000;
const WARM = 300;

interface Sample {
  cpuMs: number;
  wallMs: number;
  /** The same tokens verified a second time: the cached path every later request with a token takes (revocation check included). */
  repeatCpuMs: number;
  queries: number;
  alg: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- each build's modules are imported by path at run time */
async function child(root: string): Promise<void> {
  const load = (rel: string): Promise<any> => import(pathToFileURL(path.join(root, 'dist', rel)).href);
  const auth = await load('src/auth/index.js');
  const { signAccessToken } = await load('src/auth/access-token.js');
  const { createRevocations } = await load('src/auth/revocations.js');
  const { DEFAULT_TENANT, systemClock } = await load('src/kernel/index.js');
  const { createTestDb } = await load('test/support/db.js');
  const t = await createTestDb();
  try {
    const keys = auth.createSigningKeyStore({ db: t.db, clock: systemClock });
    const verifier = auth.createTokenVerifier({ issuer: ISS, audience: `${ISS}/fhir`, keys, clock: systemClock, revocations: createRevocations({ db: t.db, clock: systemClock }) });
    const tokens: string[] = [];
    for (let i = 0; i < WARM + TOKENS; i++) {
      tokens.push(await signAccessToken(keys, { tenant: DEFAULT_TENANT, clientId: 'app', scopes: ['user/*.rs'], isAdmin: false, issuer: ISS, audience: `${ISS}/fhir`, now: new Date(), ttlSeconds: 600, userId: `u${i % 50}` }));
    }
    for (let i = 0; i < WARM; i++) await verifier.verify(`Bearer ${tokens[i]}`, DEFAULT_TENANT);
    // Count the application's queries in the window (expected: none, keys and revocations are cached).
    let queries = 0;
    const query = t.db.query.bind(t.db);
    t.db.query = (...args: unknown[]) => (queries++, query(...args));
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let i = WARM; i < WARM + TOKENS; i++) await verifier.verify(`Bearer ${tokens[i]}`, DEFAULT_TENANT);
    const used = process.cpuUsage(cpu);
    const wallMs = Number(process.hrtime.bigint() - start) / 1e6 / TOKENS;
    const repeat = process.cpuUsage();
    for (let i = WARM; i < WARM + TOKENS; i++) await verifier.verify(`Bearer ${tokens[i]}`, DEFAULT_TENANT);
    const repeatUsed = process.cpuUsage(repeat);
    const alg = (JSON.parse(Buffer.from(tokens[0]!.split('.')[0]!, 'base64url').toString()) as { alg: string }).alg;
    const sample: Sample = { cpuMs: (used.user + used.system) / 1000 / TOKENS, wallMs, repeatCpuMs: (repeatUsed.user + repeatUsed.system) / 1000 / TOKENS, queries, alg };
    process.stdout.write(JSON.stringify(sample));
  } finally {
    await t.drop();
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function runChild(root: string): Sample {
  const self = fileURLToPath(import.meta.url);
  return JSON.parse(execFileSync(process.execPath, [self, '--child', root], { encoding: 'utf8' })) as Sample;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const [baseRoot, roundsArg, out] = process.argv.slice(2);
  if (!baseRoot) throw new Error('usage: token-first-sight-ab.js <base-root> [rounds] [out.json]');
  const newRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const rounds = Number(roundsArg ?? 4);
  const loadStart = os.loadavg();
  const samples: Record<'base' | 'new', Sample[]> = { base: [], new: [] };
  for (let r = 0; r < rounds; r++) {
    const order: ('base' | 'new')[] = r % 2 === 0 ? ['base', 'new'] : ['new', 'base'];
    for (const which of order) {
      const s = runChild(which === 'base' ? baseRoot : newRoot);
      samples[which].push(s);
      console.error(`round ${r + 1} ${which}: ${s.cpuMs.toFixed(4)} ms CPU first sight, ${s.repeatCpuMs.toFixed(4)} ms repeat, ${s.wallMs.toFixed(4)} ms wall, ${s.queries} queries`);
    }
  }
  const summary = (xs: Sample[]) => ({ cpuMsMedian: median(xs.map((s) => s.cpuMs)), repeatCpuMsMedian: median(xs.map((s) => s.repeatCpuMs)), wallMsMedian: median(xs.map((s) => s.wallMs)), samples: xs });
  const result = {
    date: new Date().toISOString(),
    method: `ABBA rounds, one child process per build and round; each child verifies ${TOKENS} never-seen ES256 access tokens once (after ${WARM} warm-up verifications; keys and revocations cached), then each a second time (repeat: the cached path of every later request with the same token), Node process CPU (process.cpuUsage user+system, includes the libuv thread pool) and wall time per verification; queries = database queries the verifier issued during the window (PostgreSQL does no work on this path)`,
    machine: { ...machineFacts(), loadAverageStart: loadStart, loadAverageEnd: os.loadavg() },
    // machine.gitCommit is the build under test ("new"); the base is named by its path (a checkout or archive of some commit).
    baseRoot: path.resolve(baseRoot),
    rounds,
    base: summary(samples.base),
    new: summary(samples.new),
  };
  console.log(JSON.stringify({ base: result.base.cpuMsMedian, new: result.new.cpuMsMedian }));
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
