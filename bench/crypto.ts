/**
 * Encryption cost on this machine:
 *  1. raw AES-256-GCM throughput (node:crypto / OpenSSL) at several buffer sizes;
 *  2. the envelope codec's cost per resource (encode + decode, DEK cached), on
 *     realistic synthetic resources, against JSON.stringify/parse of the same.
 * End-to-end ingest/read with and without encryption: run `npm run bench` twice,
 * the second time with HAVEN_ENV=test HAVEN_ENCRYPTION=off (see bench/README.md).
 *
 *   node dist/bench/crypto.js [--seconds 1]
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { contextOf, openEnvelope, sealEnvelope } from '../src/crypto/index.js';
import { synthesize } from '../src/synth/index.js';
import { machineFacts } from './machine.js';
import { benchCodec } from './memory-key-table.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 1;

/**
 * Wall-clock rates, and the same per second of this process's CPU: on a
 * shared machine (load above the core count) the wall-clock figure mostly
 * measures the other tenants, the CPU figure what one core can do.
 */
function rawGcm(size: number): { mibPerSecond: number; opsPerSecond: number; mibPerCpuSecond: number; opsPerCpuSecond: number } {
  const key = randomBytes(32);
  const data = randomBytes(size);
  let ops = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) {
      const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
      c.update(data);
      c.final();
      c.getAuthTag();
    }
    ops += 64;
  }
  const s = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return {
    mibPerSecond: Math.round((ops * size) / s / 1048576),
    opsPerSecond: Math.round(ops / s),
    mibPerCpuSecond: Math.round((ops * size) / cpuS / 1048576),
    opsPerCpuSecond: Math.round(ops / cpuS),
  };
}

/**
 * A blob segment's envelope sealed and opened again (src/store/blob-store.ts
 * seals 256 KiB segments), per CPU second: the envelope's own buffer, the
 * cipher's output copied into it, and the opened plaintext, as the blob store
 * allocates them. Raw GCM above drops its output at once, an allocation
 * pattern the server never has, and large buffers' cost depends on it (malloc
 * serves them by mmap, so page faults dominate on these VMs).
 */
function envelopeRoundTrip(size: number): { mibPerCpuSecond: number } {
  const key = randomBytes(32);
  const data = randomBytes(size);
  const context = contextOf('bench/blob', ['default', 'blob', 1, 'last']);
  let ops = 0;
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  while (performance.now() < end) {
    for (let i = 0; i < 8; i++) openEnvelope(key, sealEnvelope(key, { purpose: 'blobs', keyVersion: 1 }, data, context), context, 'bench blob');
    ops += 8;
  }
  const cpu = process.cpuUsage(cpu0);
  return { mibPerCpuSecond: Math.round((ops * size) / ((cpu.user + cpu.system) / 1e6) / 1048576) };
}

async function codecCost() {
  const { codec, close } = benchCodec('haven-bench-crypto-');
  const docs: string[] = [];
  for (const bundle of synthesize({ patients: 40, seed: 7 })) for (const e of bundle.entry) docs.push(JSON.stringify(e.resource));
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
  const ids = docs.map((_, i) => ({ tenant: 'default', resourceType: 'Observation', id: `r${i}`, versionId: 1 }));
  await codec.encode(ids[0]!, docs[0]!); // creates and caches the DEK
  const time = async (fn: (i: number) => unknown, rounds: number) => {
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < docs.length; i++) await fn(i);
    return ((performance.now() - t0) * 1000) / (rounds * docs.length);
  };
  const rounds = Math.max(1, Math.round(seconds * 5));
  const sealed = await Promise.all(docs.map((d, i) => codec.encode(ids[i]!, d)));
  const encodeUs = await time((i) => codec.encode(ids[i]!, docs[i]!), rounds);
  const decodeUs = await time((i) => codec.decode(ids[i]!, sealed[i]!), rounds);
  const jsonUs = await time((i) => JSON.stringify(JSON.parse(docs[i]!)), rounds);
  await close();
  return { resources: docs.length, meanBytes: Math.round(bytes / docs.length), encodeUs: +encodeUs.toFixed(2), decodeUs: +decodeUs.toFixed(2), jsonParseStringifyUs: +jsonUs.toFixed(2) };
}

const raw = Object.fromEntries([256, 1024, 4096, 65536, 1048576].map((size) => [size, rawGcm(size)]));
const envelope = Object.fromEntries([262144, 1048576].map((size) => [size, envelopeRoundTrip(size)]));
const codec = await codecCost();
console.log(
  JSON.stringify({ node: process.version, openssl: process.versions.openssl, machine: machineFacts(), loadAverage1m: loadavg()[0], aes256gcm: raw, envelopeSealAndOpen: envelope, codecPerResource: codec }, null, 2),
);
