import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../../src/synth/index.js';
import { freePort } from '../support/server.js';
import { adminToken, spawnHaven, type HavenProcess } from '../support/process.js';

/**
 * Acceptance 5, on the embedded default: kill -9 of Haven in the middle of an
 * import (several points), kill -9 of the embedded database server alone, and
 * SIGTERM. Every acknowledged write must survive with its search indexes.
 */
let dataDir: string;
let port: number;
let env: Record<string, string>;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'haven-durability-'));
  port = await freePort();
  env = { HAVEN_DATA_DIR: dataDir, HAVEN_PORT: String(port) };
  delete process.env.DATABASE_URL; // this test is about the embedded database
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

type Bundle = { entry: { resource: { resourceType: string; id: string; subject?: { reference: string } } }[] };

async function post(base: string, token: string, body: unknown) {
  const res = await fetch(`${base}/fhir`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
  await res.text();
  return res.status;
}

/** Posts with `Expect: 100-continue`, runs `onContinue` when the server has taken the request, then sends the body. */
function postAfterContinue(base: string, token: string, body: unknown, onContinue: () => void): Promise<number> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', 'content-length': payload.length, expect: '100-continue' },
    });
    req.on('continue', () => {
      onContinue();
      req.end(payload);
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** Posts bundles two at a time until told to stop; records the acknowledged ones. */
function importUntil(h: HavenProcess, token: string, bundles: Iterator<Bundle>, acked: Bundle[], stopAfter: number) {
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const next = bundles.next();
      if (next.done) return;
      let status = 0;
      try {
        status = await post(h.baseUrl, token, next.value);
      } catch {
        return; // connection cut by the kill: not acknowledged
      }
      if (status === 200) acked.push(next.value);
      if (acked.length >= stopAfter) stop = true;
    }
  };
  return Promise.all([worker(), worker()]);
}

async function verifyAcked(base: string, token: string, acked: Bundle[]): Promise<void> {
  const get = async (path: string) => {
    const res = await fetch(`${base}/fhir${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as { total?: number; id?: string } };
  };
  for (const bundle of acked) {
    for (const { resource } of bundle.entry) {
      const r = await get(`/${resource.resourceType}/${resource.id}`);
      assert.equal(r.status, 200, `${resource.resourceType}/${resource.id} lost`);
    }
    // The indexes came through too: a reference search finds every Observation of the patient.
    const patientRef = bundle.entry.find((e) => e.resource.resourceType === 'Patient')!.resource;
    const observations = bundle.entry.filter((e) => e.resource.resourceType === 'Observation').length;
    const found = await get(`/Observation?subject=Patient/${patientRef.id}&_total=accurate&_count=0`);
    assert.equal(found.body.total, observations, `indexes of Patient/${patientRef.id} incomplete`);
  }
}

test('kill -9 of Haven mid-import loses no acknowledged write', { timeout: 240_000 }, async () => {
  const bundles = synthesize({ patients: 200, seed: 7 }) as Iterator<Bundle>;
  const acked: Bundle[] = [];
  for (const killAfter of [2, 5, 9]) {
    const h = await spawnHaven(env);
    const token = await adminToken(dataDir, h.baseUrl);
    await verifyAcked(h.baseUrl, token, acked);
    const running = importUntil(h, token, bundles, acked, killAfter);
    while (acked.length < killAfter) await new Promise((r) => setTimeout(r, 5));
    h.proc.kill('SIGKILL'); // while the other worker's bundle is in flight
    await h.exited;
    await running;
  }
  const h = await spawnHaven(env);
  const token = await adminToken(dataDir, h.baseUrl);
  await verifyAcked(h.baseUrl, token, acked);
  assert.ok(acked.length >= 9);
  h.proc.kill('SIGTERM');
  assert.equal(await h.exited, 0, h.output().slice(-3000));
});

test('kill -9 of the embedded database: 503 and /readyz false, then recovery', { timeout: 120_000 }, async () => {
  const h = await spawnHaven(env);
  const token = await adminToken(dataDir, h.baseUrl);
  const acked: Bundle[] = [];
  const bundles = synthesize({ patients: 3, seed: 8 }) as Iterator<Bundle>;
  await importUntil(h, token, bundles, acked, 3);
  const pid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGKILL');
  let sawNotReady = false;
  const statuses = new Set<number>();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${h.baseUrl}/readyz`);
    if (ready.status === 503) sawNotReady = true;
    const read = await fetch(`${h.baseUrl}/fhir/Patient?_count=1`, { headers: { authorization: `Bearer ${token}` } });
    await read.text();
    statuses.add(read.status);
    if (sawNotReady && ready.status === 200 && read.status === 200) break;
    assert.ok(Date.now() < deadline, `no recovery; statuses ${[...statuses].join(',')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(sawNotReady, '/readyz never reported the outage');
  for (const s of statuses) assert.ok(s === 200 || s === 503, `unexpected status ${s} during the outage`);
  await verifyAcked(h.baseUrl, token, acked);
  h.proc.kill('SIGTERM');
  assert.equal(await h.exited, 0, h.output().slice(-3000));
});

test('SIGTERM drains in-flight requests and shuts the database down cleanly', { timeout: 60_000 }, async () => {
  const h = await spawnHaven(env);
  const token = await adminToken(dataDir, h.baseUrl);
  const bundle = synthesize({ patients: 1, seed: 9 }).next().value as Bundle;
  // The signal goes out only once the server holds the request: with `Expect: 100-continue`
  // Node answers "100 Continue" as it hands the parsed request to the router, and the body follows
  // the signal. A fixed delay raced a loaded machine (the request arrived after close: 503).
  const inFlight = postAfterContinue(h.baseUrl, token, bundle, () => h.proc.kill('SIGTERM'));
  assert.equal(await inFlight, 200, 'the in-flight request was not drained');
  assert.equal(await h.exited, 0, h.output().slice(-3000));
  assert.ok(!existsSync(join(dataDir, 'pg', 'postmaster.pid')), 'PostgreSQL still running or not shut down cleanly');
  assert.match(readFileSync(join(dataDir, 'log', 'postgres.log'), 'utf8'), /database system is shut down/);
  // The next start finds a cleanly shut down cluster and the drained write.
  const again = await spawnHaven(env);
  const t2 = await adminToken(dataDir, again.baseUrl);
  await verifyAcked(again.baseUrl, t2, [bundle]);
  again.proc.kill('SIGTERM');
  assert.equal(await again.exited, 0);
});

test('haven audit verify checks a stopped embedded data directory offline', { timeout: 60_000 }, async () => {
  // The server of the previous tests has stopped: this is an auditor's copy of the data directory.
  const { spawnSync } = await import('node:child_process');
  const run = spawnSync(process.execPath, ['bin/haven.js', 'audit', 'verify', '--witness', join(dataDir, 'audit', 'witness.jsonl')], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /OK: every leaf, tree head and signature checks out/);
  assert.match(run.stdout, /audit log: \d+ entries/);
});
