/**
 * HL7 v2 parser micro-benchmark: the 57 FHIR-Converter sample messages,
 * repeated, parsed from Buffers (as the MLLP listener hands them over) on one
 * core. Writes bench/results/hl7v2-parser-<date>.json.
 *
 *   node dist/bench/hl7v2-parser.js [--seconds 5]
 *
 * Three figures, because fields decode lazily: `parse` alone (split, header,
 * charset), `parse+read` (plus 24 path reads per message, what a conversion
 * template does), and `parse+serialize`.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseMessage, serializeMessage } from '../src/hl7v2/index.js';
import { machineFacts } from './machine.js';

const SAMPLES = path.resolve('../shared/data/hl7v2-fhir-converter/messages');
const PATHS = [
  'MSH-9', 'MSH-10', 'MSH-7', 'PID-3', 'PID-3.4', 'PID-3[2].1', 'PID-5', 'PID-5.2', 'PID-7', 'PID-8', 'PID-11.3', 'PID-13',
  'PV1-2', 'PV1-3.1', 'PV1-19', 'PV1-44', 'OBX-3.1', 'OBX-5', 'OBX-6', 'OBX[2]-5', 'OBR-4.1', 'ORC-2', 'EVN-2', 'NK1-2',
];

/** Wall-clock rates, and rates per CPU second: the machine is shared, and the CPU figure is what one free core gives. */
interface Figure {
  messages: number;
  seconds: number;
  cpuSeconds: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  messagesPerCpuSecond: number;
  megabytesPerCpuSecond: number;
}

function run(label: string, inputs: readonly Buffer[], seconds: number, work: (b: Buffer) => number): Figure {
  const bytesPerRound = inputs.reduce((n, b) => n + b.length, 0);
  // Warm up the JIT before timing.
  for (let i = 0; i < 200; i++) for (const b of inputs) work(b);
  let messages = 0;
  let bytes = 0;
  let sink = 0;
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (const b of inputs) sink += work(b);
    messages += inputs.length;
    bytes += bytesPerRound;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const fig = {
    messages,
    seconds: round(elapsed),
    cpuSeconds: round(cpuSeconds),
    messagesPerSecond: Math.round(messages / elapsed),
    megabytesPerSecond: round(bytes / elapsed / 1e6),
    messagesPerCpuSecond: Math.round(messages / cpuSeconds),
    megabytesPerCpuSecond: round(bytes / cpuSeconds / 1e6),
  };
  console.log(
    `${label.padEnd(16)} ${String(fig.messagesPerSecond).padStart(8)} messages/s ${String(fig.megabytesPerSecond).padStart(7)} MB/s` +
      ` | per CPU second: ${fig.messagesPerCpuSecond} messages, ${fig.megabytesPerCpuSecond} MB (${sink > 0 ? 'ok' : '?'})`,
  );
  return fig;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function main(): void {
  const secondsArg = process.argv.indexOf('--seconds');
  const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 5;
  const names = readdirSync(SAMPLES).filter((f) => f.endsWith('.hl7')).sort();
  const inputs = names.map((f) => readFileSync(path.join(SAMPLES, f)));
  const adtOru = inputs.filter((_, i) => /^(ADT|ORU)-/.test(names[i]!));
  const startedAt = new Date();
  const results = {
    parse: run('parse (all 57)', inputs, seconds, (b) => parseMessage(b).segments.length),
    parseAdtOru: run('parse (ADT/ORU)', adtOru, seconds, (b) => parseMessage(b).segments.length),
    parseAndRead: run('parse+read', inputs, seconds, (b) => {
      const m = parseMessage(b);
      let n = 0;
      for (const p of PATHS) n += m.get(p)?.length ?? 0;
      return n + 1;
    }),
    parseAndSerialize: run('parse+serialize', inputs, seconds, (b) => serializeMessage(parseMessage(b)).length),
  };
  const body = {
    startedAt: startedAt.toISOString(),
    machine: machineFacts(),
    loadAverage: os.loadavg().map(round),
    options: { seconds, samples: names.length, averageMessageBytes: Math.round(inputs.reduce((n, b) => n + b.length, 0) / inputs.length), readPaths: PATHS.length },
    targets: {
      parseAdtOruPerSecond: { target: '>= 50000', measured: results.parseAdtOru.messagesPerSecond, unit: 'messages/s (one core, wall clock)', pass: results.parseAdtOru.messagesPerSecond >= 50_000 },
      parseAdtOruPerCpuSecond: { target: '>= 50000', measured: results.parseAdtOru.messagesPerCpuSecond, unit: 'messages per CPU second', pass: results.parseAdtOru.messagesPerCpuSecond >= 50_000 },
    },
    results,
  };
  const dir = path.resolve('bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `hl7v2-parser-${startedAt.toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main();
