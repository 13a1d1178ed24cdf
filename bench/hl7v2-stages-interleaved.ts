/**
 * The stages of bench/hl7v2-stages.ts (parse, convert, validate, extract,
 * index rows) for two builds in ONE process, alternating between them every
 * few messages: separate processes (hl7v2-stages-ab.ts) see the neighbours'
 * load drift by tens of percent between runs on the shared 2-core machine;
 * alternating within seconds puts the same drift on both builds.
 *   node dist/bench/hl7v2-stages-interleaved.js --before <built checkout> [--after .] [--rounds 40] [--reps 20] [--out name]
 * Each round runs `reps` passes over the sample messages on one build, then on
 * the other (ABBA: the first build alternates per round); a stage's figure
 * for a round is its CPU over the round's messages, and the result gives the
 * median over rounds per build and the median of the per-round ratios.
 * Writes bench/results/<out>.json (default hl7v2-stages-<date>-interleaved.json).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';

type Resource = { resourceType: string } & Record<string, unknown>;
type Tagger = (form: string, domain: string, value: string) => string;
const STAGES = ['parse', 'convert', 'validate', 'extract', 'indexRows'] as const;
type Stage = (typeof STAGES)[number];
type Pipeline = (measure: Record<Stage, number>) => Promise<void>;

const SAMPLES = ['ADT-A01-01.hl7', 'ADT-A04-01.hl7', 'ADT-A08-01.hl7', 'ADT-A28-01.hl7', 'ADT-A31-01.hl7', 'ORU-R01-01.hl7'];
const dir = resolve(process.cwd(), '../shared/data/hl7v2-fhir-converter/messages');
const texts = SAMPLES.map((f) => readFileSync(resolve(dir, f), 'latin1').split(/\r\n|\r|\n/).filter((l) => l.length > 0).join('\r'));

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** The stages of one build, loaded from its `dist/` (the same calls as bench/hl7v2-stages.ts). */
async function pipelineOf(root: string): Promise<Pipeline> {
  const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(resolve(root, 'dist', rel)).href)) as T;
  const { parseMessage } = await load<{ parseMessage: (text: string) => unknown }>('src/hl7v2/index.js');
  const { createHl7Converter } = await load<{ createHl7Converter: () => { convert(input: object): { bundle: { entry: { resource?: Resource }[] } } } }>('src/hl7v2/convert/index.js');
  const { createValidator } = await load<{ createValidator: () => { validate(r: unknown): unknown[] } }>('src/fhir/validation/index.js');
  const { createFhirDefinitions, normalizeString } = await load<{ createFhirDefinitions: () => { indexer: { extract(r: object): unknown[] } }; normalizeString: (s: string) => string }>('src/fhir/index.js');
  const { createIndexWriter } = await load<{ createIndexWriter: (o: object) => { plan(t: string, fresh: object[], owners: object[]): Promise<unknown> } }>('src/store/index-writer.js');
  const { taggerFor } = await load<{ taggerFor: (key: Buffer) => Tagger }>('src/crypto/blind-index.js');
  const { parseProtectedParams } = await load<{ parseProtectedParams: (spec: string) => unknown }>('src/search/index.js');
  const converter = createHl7Converter();
  const validator = createValidator();
  const fhir = createFhirDefinitions();
  const key = Buffer.alloc(32, 7);
  const writer = createIndexWriter({
    normalize: normalizeString,
    blind: { policy: parseProtectedParams('default'), normalize: normalizeString, indexer: { withTagger: async (_t: string, use: (tag: Tagger) => unknown) => use(taggerFor(key)) } },
  });
  return async (m) => {
    for (const text of texts) {
      let t = cpu();
      const message = parseMessage(text);
      let n = cpu();
      m.parse += n - t;
      const result = converter.convert({ message, messageId: 'm-1', sender: 'APP^FAC', receivedAt: new Date() });
      t = cpu();
      m.convert += t - n;
      const list = result.bundle.entry.flatMap((e) => (e.resource ? [e.resource] : []));
      n = cpu();
      for (const r of list) validator.validate(r);
      t = cpu();
      m.validate += t - n;
      const fresh = list.map((r, i) => ({ resourceType: r.resourceType, id: `r${i}`, values: fhir.indexer.extract(r) }));
      n = cpu();
      m.extract += n - t;
      await writer.plan('t1', fresh, []);
      m.indexRows += cpu() - n;
    }
  };
}

const beforeDir = stringArg('before');
if (!beforeDir) throw new Error('--before <directory of another built checkout> is required');
const builds = { before: resolve(beforeDir), after: resolve(stringArg('after') ?? '.') };
type Build = keyof typeof builds;
const rounds = positiveArg('rounds', 40);
const reps = positiveArg('reps', 20);
const pipelines: Record<Build, Pipeline> = { before: await pipelineOf(builds.before), after: await pipelineOf(builds.after) };
const zero = (): Record<Stage, number> => ({ parse: 0, convert: 0, validate: 0, extract: 0, indexRows: 0 });
for (const build of ['before', 'after'] as const) for (let i = 0; i < 30; i++) await pipelines[build](zero());

const perRound: Record<Build, Record<Stage, number>[]> = { before: [], after: [] };
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  const order: Build[] = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  for (const build of order) {
    const m = zero();
    for (let i = 0; i < reps; i++) await pipelines[build](m);
    const n = reps * texts.length;
    perRound[build].push(Object.fromEntries(STAGES.map((s) => [s, m[s] / n])) as Record<Stage, number>);
  }
  loads.push(Math.round(loadavg()[0]! * 100) / 100);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;
const total = (x: Record<Stage, number>): number => STAGES.reduce((a, s) => a + x[s], 0);
const figures = Object.fromEntries(
  [...STAGES, 'total' as const].map((stage) => {
    const of = (b: Build) => perRound[b].map((x) => (stage === 'total' ? total(x) : x[stage]));
    const ratios = of('after').map((a, i) => a / of('before')[i]!);
    return [stage, { before: round1(median(of('before'))), after: round1(median(of('after'))), medianRatio: Math.round(median(ratios) * 1000) / 1000 }];
  }),
);
const result = {
  bench: 'hl7v2-stages-interleaved',
  date: new Date().toISOString(),
  machine: machineFacts(),
  compared: { before: builds.before, after: builds.after, rounds, messagesPerRoundAndBuild: reps * texts.length, order: 'ABBA within one process (first build alternates per round)' },
  unit: 'Node CPU microseconds per message (process.cpuUsage), 6 sample messages; medianRatio = median over rounds of after/before',
  medians: figures,
  load1m: { min: Math.min(...loads), max: Math.max(...loads), median: median(loads) },
};
const outDir = resolve('bench/results');
mkdirSync(outDir, { recursive: true });
const file = resolve(outDir, `${stringArg('out') ?? `hl7v2-stages-${new Date().toISOString().slice(0, 10)}-interleaved`}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ file, medians: figures, load1m: result.load1m }, null, 2));
