import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { parseBatch, parseMessage, serializeBatch, serializeMessage, serializeText } from '../../src/hl7v2/index.js';
import type { Hl7Batch } from '../../src/hl7v2/index.js';
import type { Hl7Message } from '../../src/hl7v2/index.js';
import { fuzzCase } from './fuzz-cases.js';
import { loadSamples } from './samples.js';

// HAVEN_FUZZ_COUNT / HAVEN_FUZZ_SEED are harness variables (docs/configuration.md); CI runs the default million.
const COUNT = Number(process.env.HAVEN_FUZZ_COUNT ?? 1_000_000);
const SEED = Number(process.env.HAVEN_FUZZ_SEED ?? 20261129);
const SLOW_MS = 100;
/**
 * A hang is time out of proportion to the input: allow 100 ms plus 0.1 ms per
 * KB (1 MB fields appear among the mutations; one took 136 ms of CPU on a
 * loaded 2-core machine, linear in its size), so only superlinear work fails.
 */
const slowLimitMs = (bytes: number) => SLOW_MS + bytes / 10_240;
const PATHS = ['MSH-9', 'MSH-10', 'PID-3[2].1', 'PID-5.1.2', 'OBX[2]-5', 'ZZ1-1', 'NTE-3', 'PV1-3.1.1'];

const FIELD_PATHS = Array.from({ length: 30 }, (_, i) => [`${i + 1}`, `${i + 1}[2].2.2`] as const);

type Mode = 'bytes' | 'text' | 'batch';

function exercise(msg: Hl7Message, input: Buffer | string, deep: boolean): void {
  for (const p of PATHS) msg.get(p);
  // Reading every field of every segment costs more than parsing; a sample of the cases does it.
  for (const s of deep ? msg.segments.slice(0, 20) : []) {
    msg.segmentsNamed(s.name);
    for (let f = 1; f <= Math.min(s.fieldCount, 30); f++) {
      s.repetitions(f);
      s.get(FIELD_PATHS[f - 1]![0]);
      s.get(FIELD_PATHS[f - 1]![1]);
    }
  }
  // Everything the parser accepts is kept exactly: its bytes (or text) come back unchanged.
  if (typeof input === 'string' ? serializeText(msg) !== input : !serializeMessage(msg).equals(input)) {
    throw new Error('accepted input did not serialize back to the same bytes');
  }
}

type Outcome = { parsed: Hl7Message } | { batch: Hl7Batch } | { refused: HavenError };

/** Only the parse is timed: what the listener's event loop would be blocked for. */
function parseTimed(input: Buffer | string, mode: Mode, cpu: boolean): { outcome: Outcome; ms: number } {
  const startCpu = cpu ? process.cpuUsage() : undefined;
  const start = performance.now();
  let outcome: Outcome;
  try {
    outcome = mode === 'batch' ? { batch: parseBatch(input) } : { parsed: parseMessage(input) };
  } catch (err) {
    if (!(err instanceof HavenError) || !err.code.startsWith('HL7_')) throw err;
    outcome = { refused: err };
  }
  const wall = performance.now() - start;
  if (!startCpu) return { outcome, ms: wall };
  const used = process.cpuUsage(startCpu);
  return { outcome, ms: (used.user + used.system) / 1000 };
}

/** Parses and checks one case; returns the parse time in ms and whether the input was accepted. */
function runCase(bytes: Buffer, mode: Mode, deep: boolean): { ms: number; accepted: boolean } {
  const input = mode === 'text' ? bytes.toString('latin1') : bytes;
  const first = parseTimed(input, mode, false);
  const outcome = first.outcome;
  let ms = first.ms;
  // Over the limit on the wall clock: a real hang, or a machine shared with other work? CPU time decides.
  if (ms > slowLimitMs(bytes.length)) ms = Math.min(parseTimed(input, mode, true).ms, parseTimed(input, mode, true).ms);
  if ('parsed' in outcome) exercise(outcome.parsed, input, deep);
  else if ('batch' in outcome) {
    for (const m of outcome.batch.messages) m.get('PID-3');
    if (!serializeBatch(outcome.batch).equals(bytes)) throw new Error('accepted batch did not serialize back to the same bytes');
  }
  return { ms, accepted: !('refused' in outcome) };
}

test(`fuzz: ${COUNT} generated and mutated messages parse or fail with an HL7_* HavenError`, () => {
  const samples = loadSamples().map((s) => s.bytes);
  assert.equal(samples.length, 57);
  let slowest = { ms: 0, index: -1, mutation: '', over: false };
  let accepted = 0;
  // Four in ten cases end in a HavenError; capturing their stacks would cost more than parsing. A failure re-runs with stacks.
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const started = performance.now();
  for (let i = 0; i < COUNT; i++) {
    const c = fuzzCase(SEED, i, samples);
    const envelope = /^(FHS|BHS)/.test(c.input.toString('latin1', 0, 3));
    const mode: Mode = envelope || i % 50 === 49 ? 'batch' : i % 10 === 3 ? 'text' : 'bytes';
    const deep = i % 8 === 0;
    let result: { ms: number; accepted: boolean };
    try {
      result = runCase(c.input, mode, deep);
    } catch {
      assert.fail(`HAVEN_FUZZ_SEED=${SEED} case ${i} (${c.mutation}, as ${mode}): ${failureWithStack(c.input, mode, deep)}`);
    }
    const over = result.ms > slowLimitMs(c.input.length);
    if (over ? !slowest.over || result.ms > slowest.ms : !slowest.over && result.ms > slowest.ms) slowest = { ms: result.ms, index: i, mutation: c.mutation, over };
    if (result.accepted) accepted++;
  }
  const seconds = (performance.now() - started) / 1000;
  Error.stackTraceLimit = stackLimit;
  console.log(
    `fuzz: ${COUNT} cases in ${seconds.toFixed(1)} s, seed ${SEED}; ${accepted} accepted (the rest refused with HL7_* codes); ` +
      `slowest parse ${slowest.ms.toFixed(1)} ms (case ${slowest.index}: ${slowest.mutation})`,
  );
  assert.ok(!slowest.over, `HAVEN_FUZZ_SEED=${SEED} case ${slowest.index} (${slowest.mutation}) took ${slowest.ms.toFixed(1)} ms`);
});

/** The same case again, with stack traces on, for the failure message. */
function failureWithStack(input: Buffer, mode: Mode, deep: boolean): string {
  Error.stackTraceLimit = 20;
  try {
    runCase(input, mode, deep);
    return 'failed once, then passed on a re-run';
  } catch (err) {
    return err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
}
