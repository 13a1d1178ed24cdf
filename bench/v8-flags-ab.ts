/**
 * Another benchmark script of this directory run with and without some V8
 * flags, in alternating child processes (ABBA: which goes first alternates
 * between rounds, so load drift falls on both alike), to measure what a
 * runtime setting of the server (src/app/runtime-tuning.ts) does to a path
 * measured in process.
 *
 *   node dist/bench/v8-flags-ab.js --flags "--no-concurrent-array-buffer-sweeping" \
 *     --figures medians.total.after [--rounds 6] [--out name] -- dist/bench/hl7v2-stages-interleaved.js --before . --out scratch
 *
 * Scripts that apply the server's settings themselves (crypto.ts,
 * enc-read-path.ts call tuneRuntime) run with the flag either way.
 *
 * The script must print its result as JSON last on stdout (one line, or an
 * object starting at a line of its own); `--figures` names the numbers to
 * compare by their dotted paths in it. The result gives, per figure, the
 * median with and without the flags and the median of the per-round ratios
 * (with / without).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { median } from './stats.js';

const split = process.argv.indexOf('--');
if (split < 0 || split === process.argv.length - 1) throw new Error('usage: v8-flags-ab.js --flags "…" --figures a.b,c.d [--rounds N] [--out name] -- <script> [args]');
const [script, ...scriptArgs] = process.argv.slice(split + 1) as [string, ...string[]];
const own = process.argv.slice(0, split); // the script's own options (its --rounds, …) are not ours
const flags = (stringArg('flags', own) ?? '').split(/\s+/).filter(Boolean);
if (flags.length === 0 || flags.some((f) => !f.startsWith('--'))) throw new Error('--flags: one or more V8 flags, e.g. "--no-concurrent-array-buffer-sweeping"');
const figures = (stringArg('figures', own) ?? '').split(',').filter(Boolean);
if (figures.length === 0) throw new Error('--figures: the dotted paths of the numbers to compare in the script’s JSON result');
const rounds = positiveArg('rounds', 6, own);

/** The last JSON object the script printed. */
function resultOf(stdout: string): unknown {
  const trimmed = stdout.trimEnd();
  const lastLine = trimmed.slice(trimmed.lastIndexOf('\n') + 1);
  if (lastLine.startsWith('{')) return JSON.parse(lastLine);
  const start = trimmed.lastIndexOf('\n{') + 1; // 0: the whole output is the object, or there is none
  if (start === 0 && !trimmed.startsWith('{')) throw new Error('the script printed no JSON result');
  return JSON.parse(trimmed.slice(start));
}

function figureOf(result: unknown, path: string): number {
  let at: unknown = result;
  for (const key of path.split('.')) at = (at as Record<string, unknown> | undefined)?.[key];
  if (typeof at !== 'number') throw new Error(`the result has no number at ${path}`);
  return at;
}

type Variant = 'with' | 'without';
const samples: Record<Variant, Record<string, number>[]> = { with: [], without: [] };
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  const order: Variant[] = r % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
  for (const variant of order) {
    const args = [...(variant === 'with' ? flags : []), script, ...scriptArgs];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (run.status !== 0) throw new Error(`${variant} the flags, round ${r + 1}: exit ${run.status}\n${run.stderr}`);
    const result = resultOf(run.stdout);
    samples[variant].push(Object.fromEntries(figures.map((f) => [f, figureOf(result, f)])));
    loads.push(Math.round(loadavg()[0]! * 100) / 100);
  }
}

const summary = Object.fromEntries(
  figures.map((f) => {
    const withFlags = samples.with.map((s) => s[f]!);
    const without = samples.without.map((s) => s[f]!);
    return [f, { without: median(without, 3), with: median(withFlags, 3), medianRatio: median(withFlags.map((x, i) => x / without[i]!), 3), roundsWithout: without, roundsWith: withFlags }];
  }),
);
const result = {
  bench: 'v8-flags-ab',
  at: new Date().toISOString(),
  machine: machineFacts(),
  flags,
  script: [script, ...scriptArgs].join(' '),
  rounds,
  order: 'ABBA, one child process per run; medianRatio = median over rounds of with/without',
  loadAverage1m: { min: Math.min(...loads), max: Math.max(...loads) },
  figures: summary,
};
console.log(JSON.stringify(result, null, 2));
const out = stringArg('out', own);
if (out) {
  mkdirSync(resolve('bench/results'), { recursive: true });
  writeFileSync(resolve('bench/results', `${out}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
