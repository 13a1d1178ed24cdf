import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { FhirClient } from './client.js';
import { createProgress } from './progress.js';

interface Resource {
  resourceType?: string;
  id?: string;
  [k: string]: unknown;
}

export interface ImportReport {
  files: number;
  resources: number;
  failed: number;
  failures: { where: string; reason: string }[];
}

const BATCH = 200;

async function listFiles(path: string): Promise<string[]> {
  const s = await stat(path);
  if (!s.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of (await readdir(path)).sort()) out.push(...(await listFiles(join(path, name))));
  return out.filter((f) => /\.(json|ndjson)$/.test(f));
}

function reasonOf(body: unknown): string {
  const issues = (body as { issue?: { diagnostics?: string; expression?: string[] }[] } | undefined)?.issue ?? [];
  return issues.map((i) => `${i.diagnostics ?? 'error'}${i.expression ? ` (${i.expression.join(', ')})` : ''}`).join('; ') || 'rejected';
}

/** Resources with ids become PUTs (re-running is safe); others POSTs. */
function toBatchEntry(r: Resource) {
  return r.id ? { resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } } : { resource: r, request: { method: 'POST', url: r.resourceType } };
}

async function sendBatch(client: FhirClient, resources: { where: string; resource: Resource }[], report: ImportReport): Promise<void> {
  if (resources.length === 0) return;
  const res = await client.request('POST', '', { resourceType: 'Bundle', type: 'batch', entry: resources.map((r) => toBatchEntry(r.resource)) });
  if (res.status !== 200) {
    for (const r of resources) report.failures.push({ where: r.where, reason: `batch failed (${res.status}): ${reasonOf(res.body)}` });
    report.failed += resources.length;
    return;
  }
  const entries = (res.body as { entry?: { response?: { status?: string; outcome?: unknown } }[] }).entry ?? [];
  entries.forEach((e, i) => {
    const status = Number(e.response?.status?.split(' ')[0] ?? 0);
    if (status >= 200 && status < 300) report.resources++;
    else {
      report.failed++;
      report.failures.push({ where: resources[i]!.where, reason: `${status}: ${reasonOf(e.response?.outcome)}` });
    }
  });
}

async function importNdjson(client: FhirClient, file: string, report: ImportReport, tick: () => void): Promise<void> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let batch: { where: string; resource: Resource }[] = [];
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    try {
      batch.push({ where: `${file}:${n}`, resource: JSON.parse(line) as Resource });
    } catch {
      report.failed++;
      report.failures.push({ where: `${file}:${n}`, reason: 'not valid JSON' });
    }
    if (batch.length >= BATCH) {
      await sendBatch(client, batch, report);
      batch = [];
      tick();
    }
  }
  await sendBatch(client, batch, report);
}

async function importJson(client: FhirClient, file: string, report: ImportReport): Promise<void> {
  let doc: Resource;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as Resource;
  } catch {
    report.failed++;
    report.failures.push({ where: file, reason: 'not valid JSON' });
    return;
  }
  if (doc.resourceType === 'Bundle' && (doc.type === 'transaction' || doc.type === 'batch')) {
    const res = await client.request('POST', '', doc);
    const count = Array.isArray(doc.entry) ? doc.entry.length : 0;
    if (res.status !== 200) {
      report.failed += count;
      report.failures.push({ where: file, reason: `${doc.type} failed (${res.status}): ${reasonOf(res.body)}` });
      return;
    }
    const entries = (res.body as { entry?: { response?: { status?: string; outcome?: unknown } }[] }).entry ?? [];
    entries.forEach((e, i) => {
      const ok = /^2/.test(e.response?.status ?? '');
      if (ok) report.resources++;
      else {
        report.failed++;
        report.failures.push({ where: `${file}#entry[${i}]`, reason: `${e.response?.status ?? '?'}: ${reasonOf(e.response?.outcome)}` });
      }
    });
    return;
  }
  // Any other Bundle (collection, searchset, document): import its entries' resources.
  const resources = doc.resourceType === 'Bundle' && Array.isArray(doc.entry) ? (doc.entry as { resource?: Resource }[]).map((e) => e.resource).filter((r): r is Resource => !!r) : [doc];
  for (let i = 0; i < resources.length; i += BATCH) {
    await sendBatch(client, resources.slice(i, i + BATCH).map((resource, j) => ({ where: `${file}#${i + j}`, resource })), report);
  }
}

/** `haven import PATH`: transaction/batch Bundles, other Bundles, single resources and NDJSON, from a file or folder. */
export async function runImport(client: FhirClient, path: string): Promise<ImportReport> {
  const files = await listFiles(path);
  const report: ImportReport = { files: files.length, resources: 0, failed: 0, failures: [] };
  const progress = createProgress('import', files.length);
  let done = 0;
  const tick = () => progress.update(done, `resources ${report.resources}, failed ${report.failed}`);
  for (const file of files) {
    if (file.endsWith('.ndjson')) await importNdjson(client, file, report, tick);
    else await importJson(client, file, report);
    done++;
    tick();
  }
  progress.finish(done, `resources ${report.resources}, failed ${report.failed}`);
  return report;
}
