/**
 * Physical limits on the same data: how fast PostgreSQL takes the same
 * resource rows through COPY, and how fast this Node process can JSON.parse +
 * JSON.stringify the same resources. Haven's ingest and read rates are
 * reported as ratios to these.
 */
import type pg from 'pg';
import { synthesize } from '../src/synth/index.js';
import { byteaField, copyFrom } from './copy-in.js';
import { round } from './stats.js';

export interface LimitsResult {
  resources: number;
  meanResourceBytes: number;
  copy: { method: string; rows: number; seconds: number; rowsPerSecond: number };
  jsonRoundTrip: { resources: number; seconds: number; resourcesPerSecond: number };
}

/** The first `rows` resources of the run, serialised as the store keeps them (UTF-8 JSON). */
function sameResources(seed: number, rows: number): string[] {
  const out: string[] = [];
  for (const bundle of synthesize({ patients: Math.ceil(rows / 20), seed })) {
    for (const entry of bundle.entry) {
      if (out.length === rows) return out;
      out.push(JSON.stringify(entry.resource));
    }
  }
  return out;
}

const CHUNK_BYTES = 1 << 20;

function copyChunks(jsons: string[]): Buffer[] {
  const chunks: Buffer[] = [];
  let lines: string[] = [];
  let size = 0;
  const now = new Date().toISOString();
  for (const json of jsons) {
    const { resourceType, id } = JSON.parse(json) as { resourceType: string; id: string };
    const line = `default\t${resourceType}\t${id}\t1\t${now}\t${byteaField(Buffer.from(json, 'utf8'))}\n`;
    lines.push(line);
    size += line.length;
    if (size >= CHUNK_BYTES) {
      chunks.push(Buffer.from(lines.join(''), 'utf8'));
      lines = [];
      size = 0;
    }
  }
  if (lines.length > 0) chunks.push(Buffer.from(lines.join(''), 'utf8'));
  return chunks;
}

async function measureCopy(db: pg.Client, jsons: string[]): Promise<LimitsResult['copy']> {
  const chunks = copyChunks(jsons);
  // Shaped like `resource` (same columns, primary key and index), logged like it, so WAL is paid too.
  await db.query('DROP TABLE IF EXISTS bench_copy_scratch');
  await db.query('CREATE TABLE bench_copy_scratch (LIKE resource INCLUDING ALL)');
  try {
    const started = performance.now();
    const rows = await copyFrom(db, 'COPY bench_copy_scratch (tenant_id, resource_type, id, version_id, last_updated, content) FROM STDIN', chunks);
    const seconds = (performance.now() - started) / 1000;
    return { method: 'COPY FROM STDIN (text format, one statement) into a logged table LIKE resource INCLUDING ALL; resource rows only, no index-table rows', rows, seconds: round(seconds), rowsPerSecond: round(rows / seconds, 1) };
  } finally {
    await db.query('DROP TABLE IF EXISTS bench_copy_scratch');
  }
}

function measureJson(jsons: string[]): LimitsResult['jsonRoundTrip'] {
  let n = 0;
  let sink = 0;
  const started = performance.now();
  // At least one full pass and at least a second, bounded to ten passes.
  for (let pass = 0; pass < 10 && (pass === 0 || performance.now() - started < 1000); pass++) {
    for (const json of jsons) sink += JSON.stringify(JSON.parse(json) as unknown).length;
    n += jsons.length;
  }
  const seconds = (performance.now() - started) / 1000;
  if (sink === 0) throw new Error('empty resources');
  return { resources: n, seconds: round(seconds), resourcesPerSecond: round(n / seconds, 1) };
}

export async function runLimits(db: pg.Client, seed: number, rows: number): Promise<LimitsResult> {
  const jsons = sameResources(seed, rows);
  const bytes = jsons.reduce((a, j) => a + Buffer.byteLength(j), 0);
  const copy = await measureCopy(db, jsons);
  return { resources: jsons.length, meanResourceBytes: round(bytes / jsons.length, 0), copy, jsonRoundTrip: measureJson(jsons) };
}
