/**
 * bench/hl7v2-stages.ts (Node CPU per message of parse, convert, validate,
 * extract, index rows) on two builds: this checkout ("after") and another
 * built one ("before", e.g. the base commit extracted into a temporary
 * directory). Each round runs both, one process each, and the build that goes
 * first alternates (ABBA), so load and drift fall on both alike.
 *
 *   node dist/bench/hl7v2-stages-ab.js --before /tmp/base [--after .] [--rounds 4] [--messages-rounds 300] [--out name]
 *
 * Runs from this checkout's directory (the samples are read from ../shared).
 * Writes bench/results/<out>.json (default hl7v2-stages-<date>-ab.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';

const beforeDir = stringArg('before');
if (!beforeDir) throw new Error('--before <directory of another built checkout> is required');
const builds = { before: resolve(beforeDir), after: resolve(stringArg('after') ?? '.') };
const rounds = positiveArg('rounds', 4);
const perRun = positiveArg('messages-rounds', 300);
const STAGES = ['parse', 'convert', 'validate', 'extract', 'indexRows'] as const;
type Stage = (typeof STAGES)[number];
type Build = keyof typeof builds;

interface Run {
  round: number;
  build: Build;
  microsPerMessage: Record<Stage, number>;
  load1m: number;
}

const runs: Run[] = [];
for (let r = 0; r < rounds; r++) {
  const order: Build[] = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  for (const build of order) {
    const out = execFileSync(process.execPath, [resolve(builds[build], 'dist/bench/hl7v2-stages.js'), '--rounds', String(perRun)], { encoding: 'utf8' });
    const parsed = JSON.parse(out) as { microsPerMessage: Record<Stage, number> };
    const run: Run = { round: r + 1, build, microsPerMessage: parsed.microsPerMessage, load1m: Math.round(loadavg()[0]! * 100) / 100 };
    runs.push(run);
    console.error(`[hl7v2-stages-ab] round ${r + 1} ${build}: ${JSON.stringify(run.microsPerMessage)} load ${run.load1m}`);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const of = (build: Build, stage: Stage): number[] => runs.filter((x) => x.build === build).map((x) => x.microsPerMessage[stage]);
const medians = Object.fromEntries(
  STAGES.map((stage) => {
    const before = median(of('before', stage));
    const after = median(of('after', stage));
    return [stage, { before, after, change: `${Math.round(((after - before) / before) * 1000) / 10}%` }];
  }),
);
const pairs = Array.from({ length: rounds }, (_, i) => {
  const pick = (build: Build) => runs.find((x) => x.round === i + 1 && x.build === build)!.microsPerMessage;
  return { round: i + 1, first: i % 2 === 0 ? 'before' : 'after', before: pick('before'), after: pick('after') };
});
const result = {
  bench: 'hl7v2-stages-ab',
  date: new Date().toISOString(),
  machine: machineFacts(),
  compared: { before: builds.before, after: builds.after, roundsPerRun: perRun, rounds, order: 'ABBA (first build alternates per round)' },
  unit: 'Node CPU microseconds per message (process.cpuUsage), 6 sample messages',
  medians,
  pairs,
  load1m: runs.map((x) => x.load1m),
};
const dir = resolve('bench/results');
mkdirSync(dir, { recursive: true });
const file = resolve(dir, `${stringArg('out') ?? `hl7v2-stages-${new Date().toISOString().slice(0, 10)}-ab`}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ file, medians }, null, 2));
