/**
 * Where a request's Node CPU goes, by phase, from a `node --cpu-prof` profile
 * (bench/profile-summary.ts gives self time by function; this gives the
 * inclusive split a reader needs to decide what to cut). Each sample is
 * charged to ONE phase: of the phases found on its stack (leaf to root), the
 * one listed first in PHASES wins — so the driver work of an audit insert is
 * "audit", a decryption inside a store query is "decrypt", and what is left of
 * the pg driver is the search's own round trips.
 *   node dist/bench/profile-phases.js <file.cpuprofile> [--per N] [--top N] [--window FROM_US,TO_US]
 * `--per N`: also print ms per unit (e.g. the number of searches the profile covers).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Phase {
  name: string;
  test: (url: string, fn: string) => boolean;
}

const under = (folder: string) => (url: string) => url.includes(`/dist/src/${folder}/`);
const file = (path: string) => (url: string) => url.includes(`/dist/src/${path}`);

/** Most specific first: a sample is charged to the first phase present anywhere on its stack. */
export const PHASES: Phase[] = [
  { name: 'gc', test: (_u, fn) => fn === '(garbage collector)' },
  // A socket write is a syscall; on a loaded machine the kernel often switches to the woken reader (PostgreSQL,
  // the client) inside it, so its wall-clock samples are mostly time this process was not running.
  { name: 'socket writev (syscall; includes time descheduled)', test: (_u, fn) => fn === 'writev' },
  { name: 'start-up (module loading, definitions)', test: (u) => u.includes('dist/src/fhir/definitions') || u.startsWith('node:internal/modules') },
  { name: 'audit entry + insert', test: under('audit') },
  { name: 'decrypt bodies', test: (u) => under('crypto')(u) && !u.includes('blind-index') },
  { name: 'blind-index tags', test: file('crypto/blind-index') },
  { name: 'parse + compile search', test: under('search') },
  { name: 'bundle rendering', test: (u) => file('http/fhir/search-bundle')(u) || file('http/fhir/bundle-json')(u) },
  { name: 'auth (token, scopes, policies)', test: under('auth') },
  { name: 'pg driver (round trips)', test: (u) => /node_modules\/pg(-[a-z]+)?\//.test(u) },
  { name: 'store (rows, hooks)', test: under('store') },
  { name: 'http + routing', test: (u) => under('http')(u) || u.startsWith('node:_http') || u.startsWith('node:net') },
];

interface PhaseSplit {
  /** Busy (non-idle) µs in the window. */
  busy: number;
  /** µs by phase, and by the innermost dist/src/audit file on the stack (`auditFiles`, audit samples only). */
  totals: Map<string, number>;
  fnsOf: Map<string, Map<string, number>>;
  auditFiles: Map<string, number>;
}

/**
 * Charges each sample of a profile to its phase. `window` (µs, the monotonic clock of the profile's
 * startTime, which process.hrtime also reads) keeps only the samples taken inside it: the read phase
 * of a run that also ingested (bench/path-cpu.ts readWindowUs).
 */
export function splitPhases(profile: Profile & { startTime?: number }, window?: { from: number; to: number }): PhaseSplit {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseOf = new Map<number, string>();
  const auditFileOf = new Map<number, string | undefined>();
  const classify = (id: number): string => {
    const cached = phaseOf.get(id);
    if (cached !== undefined) return cached;
    let best = PHASES.length;
    let auditFile: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { url, functionName } = byId.get(cur)!.callFrame;
      const k = PHASES.findIndex((p) => p.test(url, functionName));
      if (k >= 0 && k < best) best = k;
      if (auditFile === undefined && url.includes('/dist/src/audit/')) auditFile = url.slice(url.lastIndexOf('/') + 1);
    }
    const fn = byId.get(id)!.callFrame.functionName;
    const name = best < PHASES.length ? PHASES[best]!.name : fn === '(idle)' ? '(idle)' : fn === '(program)' ? '(program)' : 'other';
    phaseOf.set(id, name);
    auditFileOf.set(id, auditFile);
    return name;
  };
  const totals = new Map<string, number>();
  const fnsOf = new Map<string, Map<string, number>>();
  const auditFiles = new Map<string, number>();
  let busy = 0;
  let at = profile.startTime ?? 0;
  profile.samples.forEach((id, i) => {
    const t = profile.timeDeltas[i] ?? 0;
    at += t;
    if (window && (at < window.from || at > window.to)) return;
    const name = classify(id);
    totals.set(name, (totals.get(name) ?? 0) + t);
    if (name !== '(idle)') busy += t;
    const file = auditFileOf.get(id);
    if (file && name !== '(idle)') auditFiles.set(file, (auditFiles.get(file) ?? 0) + t);
    const { functionName, url } = byId.get(id)!.callFrame;
    const fns = fnsOf.get(name) ?? new Map<string, number>();
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
    fnsOf.set(name, fns);
  });
  return { busy, totals, fnsOf, auditFiles };
}

function main(): void {
  const args = process.argv.slice(2);
  const path = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const perIdx = args.indexOf('--per');
  const per = perIdx >= 0 ? Number(args[perIdx + 1]) : 0;
  const topIdx = args.indexOf('--top');
  const topN = topIdx >= 0 ? Number(args[topIdx + 1]) : 0;
  const winIdx = args.indexOf('--window');
  const [from, to] = winIdx >= 0 ? (args[winIdx + 1] ?? '').split(',').map(Number) : [];
  if (!path) throw new Error('usage: profile-phases <file.cpuprofile> [--per N] [--top N] [--window FROM_US,TO_US]');
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const { busy, totals, fnsOf, auditFiles } = splitPhases(profile, from !== undefined && to !== undefined ? { from, to } : undefined);
  console.log(`busy ${(busy / 1e6).toFixed(2)} s${per > 0 ? `, ${(busy / 1e3 / per).toFixed(3)} ms per unit over ${per}` : ''}`);
  for (const [name, t] of [...totals.entries()].sort((a, b) => b[1] - a[1])) {
    if (name === '(idle)') continue;
    const perUnit = per > 0 ? `  ${(t / 1e3 / per).toFixed(3)} ms/unit` : '';
    console.log(`${((100 * t) / busy).toFixed(1).padStart(5)}%  ${name}${perUnit}`);
    const fns = [...(fnsOf.get(name) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1]).slice(0, topN);
    for (const [fn, ft] of fns) console.log(`          ${((100 * ft) / busy).toFixed(1).padStart(5)}%  ${fn}`);
  }
  console.log('innermost audit file on the stack:');
  for (const [f, t] of [...auditFiles.entries()].sort((a, b) => b[1] - a[1])) console.log(`${((100 * t) / busy).toFixed(1).padStart(5)}%  ${f}${per > 0 ? `  ${(t / 1e3 / per).toFixed(3)} ms/unit` : ''}`);
}

// Also a module (bench/audit-attribution.ts): the command runs only when this file is the entry point.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
