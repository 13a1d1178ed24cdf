import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app/build.js';
import { loadConfig } from '../../src/config/index.js';
import { DEFAULT_TENANT, silentLogger, type RequestContext } from '../../src/kernel/index.js';
import { normalizeString } from '../../src/fhir/index.js';
import { reindexBatch } from '../../src/reindex/batch.js';
import { loadCursor, loadJob } from '../../src/reindex/job-store.js';
import type { ReindexDeps } from '../../src/reindex/index.js';
import { createIndexWriter, plaintextCodec, type RowIdentity } from '../../src/store/index.js';
import { createJobQueue } from '../../src/store/jobs.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { eyeColorParam, patient, waitFor } from './support.js';

/** The reindex job itself: stopped mid-way it resumes from its cursor; concurrent writes keep correct index rows. */
let t: TestDb;
let dataDir: string;
let app: ReturnType<typeof buildApp>;
const ctx: RequestContext = {
  tenant: DEFAULT_TENANT,
  requestId: 'reindex-test',
  principal: { subject: 'admin', clientId: 'admin', kind: 'client', scopes: ['system/*.cruds'] },
};
const COLORS = ['blue', 'brown', 'green', 'grey'];
const N = 120;

before(async () => {
  t = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-reindex-'));
  const config = loadConfig({ HAVEN_DATA_DIR: dataDir });
  // Small batches so the job has many; its workers are started by hand (the server is not listening).
  app = buildApp({ config, db: t.db, logger: silentLogger, baseUrl: 'http://127.0.0.1:1', tenant: DEFAULT_TENANT, ready: () => t.db.ping(), reindex: { batchSize: 7, ttlMs: 200 } });
  await app.encryption.start();
});
after(async () => {
  await app.reindex.stop();
  await app.http.close();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** What a reindex worker gets, built from the app's parts (the batch runs outside the worker). */
function batchDeps(codec: ReindexDeps['codec'], batchSize: number): ReindexDeps {
  return {
    db: t.db, queue: createJobQueue(t.db), codec, indexWriter: createIndexWriter({ normalize: normalizeString }), registry: app.fhir.registry,
    resourceTypes: app.fhir.resourceTypes, extract: (r) => app.fhir.indexer.extract(r), tenant: DEFAULT_TENANT, logger: silentLogger,
    settings: { batchSize, leaseSeconds: 60, maxAttempts: 5, workers: 1, ttlMs: 200 }, node: 'test',
  };
}

async function jobState(): Promise<{ job_id: string; status: string; total: string; processed: string }> {
  const r = await t.db.query<{ job_id: string; status: string; total: string; processed: string }>(
    `SELECT j.job_id, j.status, j.total, coalesce((SELECT sum(done) FROM reindex_cursor c WHERE c.job_id = j.job_id), 0) AS processed
     FROM reindex_job j ORDER BY created_at DESC LIMIT 1`,
  );
  return r.rows[0]!;
}

/** Each live patient has exactly one eyecolor row, equal to its current extension. */
async function checkIndex(expected: Map<string, string>): Promise<void> {
  const rows = await t.db.query<{ resource_id: string; code: string }>(`SELECT resource_id, code FROM idx_token WHERE param = 'eyecolor' ORDER BY resource_id`);
  const seen = new Map<string, string[]>();
  for (const r of rows.rows) seen.set(r.resource_id, [...(seen.get(r.resource_id) ?? []), r.code]);
  assert.equal(seen.size, expected.size);
  for (const [id, color] of expected) assert.deepEqual(seen.get(id), [color], `patient ${id}`);
}

test('a job stopped mid-way resumes after its last batch, and concurrent writes keep their own index rows', async () => {
  const expected = new Map<string, string>();
  for (let i = 0; i < N; i++) {
    const r = await app.store.write(ctx, { kind: 'create', resource: patient(`P${i}`, COLORS[i % 4]) });
    expected.set(r.stored.id, COLORS[i % 4]!);
  }
  await app.store.write(ctx, { kind: 'create', resource: eyeColorParam() });
  const job = await jobState();
  assert.equal(Number(job.total), N);

  // Three batches run by hand, as a worker would before a crash: deterministic, however fast the machine.
  const started = (await loadJob(t.db, DEFAULT_TENANT, job.job_id))!;
  const codec = app.encryption.codec ?? plaintextCodec;
  for (let b = 0; b < 3; b++) {
    const cursor = await loadCursor(t.db, DEFAULT_TENANT, job.job_id, 'Patient');
    assert.equal(await reindexBatch(batchDeps(codec, 7), started, 'Patient', cursor?.lastId ?? ''), 7);
  }
  const paused = await jobState();
  assert.equal(Number(paused.processed), 21);
  assert.equal(paused.status, 'running');
  assert.ok(Number(paused.processed) < N, 'stopped before the end');

  // Writes while the job is stopped and while it runs: their own write rewrites their index rows.
  const ids = [...expected.keys()];
  const recolor = async (k: number) => {
    const id = ids[(k * 37) % ids.length]!;
    const color = COLORS[(k + 1) % 4]!;
    await app.store.write(ctx, { kind: 'update', id, resource: { ...patient(`R${k}`, color), id } });
    expected.set(id, color);
  };
  for (let k = 0; k < 10; k++) await recolor(k);
  app.reindex.start();
  for (let k = 10; k < 60; k++) await recolor(k);
  await waitFor(async () => (await jobState()).status === 'completed');
  const done = await jobState();
  // Each batch counted once: a resumed job did not start over.
  assert.equal(Number(done.processed), N);
  await checkIndex(expected);

  const page = await app.deps.searcher.search(ctx, app.store, 'Patient', [['eyecolor', 'blue'], ['_count', '200']], { strict: true });
  const blue = [...expected].filter(([, c]) => c === 'blue').map(([id]) => id).sort();
  assert.deepEqual(page.entries.map((e) => e.id).sort(), blue);
  assert.equal(page.warnings?.length ?? 0, 0);
});

test('a full reindex of a type rewrites every parameter without duplicating rows, and drops rows no parameter writes', async () => {
  const count = async () => Number((await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM idx_string WHERE resource_type = 'Patient'`)).rows[0]!.n);
  // Rows of a parameter the indexer no longer writes, as the combo-… and code-value-quantity$k rows of a store
  // written before unions and whole-resource composites (docs/search.md): the reindex is how they are reclaimed.
  const stale = async () => Number((await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM idx_token WHERE resource_type = 'Patient' AND param = 'retired-param$0'`)).rows[0]!.n);
  await t.db.query(
    `INSERT INTO idx_token (tenant_id, resource_type, resource_id, param, system, code, grp)
     SELECT tenant_id, resource_type, resource_id, 'retired-param$0', system, code, 1 FROM idx_token WHERE resource_type = 'Patient' LIMIT 10`,
  );
  assert.equal(await stale(), 10);
  const before = await count();
  await t.db.query(`DELETE FROM idx_string WHERE resource_type = 'Patient' AND resource_id IN (SELECT resource_id FROM idx_string WHERE resource_type = 'Patient' LIMIT 5)`);
  assert.ok((await count()) < before);
  const jobId = await app.reindex.kickoff(ctx, ['Patient']);
  await waitFor(async () => (await app.reindex.status(ctx, jobId)).status === 'completed');
  assert.equal(await count(), before);
  assert.equal(await stale(), 0);
});

test('a job for some parameters keeps the patient-keyed tokens whole; a full reindex rebuilds them', async () => {
  const observation = (id: string, patientId: string, code: string) => ({
    resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: `Patient/${patientId}` },
  });
  for (let i = 0; i < 10; i++) await app.store.write(ctx, { kind: 'update', id: `ko${i}`, resource: observation(`ko${i}`, `kp${i % 3}`, `c${i % 2}`) });
  const keyed = async () =>
    (await t.db.query(`SELECT resource_id, code, patient_id, ref_params FROM idx_token_patient WHERE resource_type = 'Observation' AND resource_id LIKE 'ko%' ORDER BY 1, 2, 3`)).rows;
  const written = await keyed();
  assert.equal(written.length, 10);
  const job = (status: string[] | null) => ({ tenant: DEFAULT_TENANT, jobId: `keyed-${status ? 'some' : 'all'}`, types: ['Observation'], params: status, status: 'running' as const, total: 10, notBefore: new Date(), createdAt: new Date(), finishedAt: null });
  const codec = app.encryption.codec ?? plaintextCodec;
  // `status` alone: its rows are rewritten from the status values only; the keyed rows pair code and subject, and stay.
  await t.db.query(`INSERT INTO reindex_job (tenant_id, job_id, types, params, status, total, not_before) VALUES ($1, 'keyed-some', '{Observation}', '{status}', 'running', 10, now()), ($1, 'keyed-all', '{Observation}', NULL, 'running', 10, now())`, [DEFAULT_TENANT]);
  assert.ok((await reindexBatch(batchDeps(codec, 50), job(['status']), 'Observation', 'ko')) >= 10);
  assert.deepEqual(await keyed(), written);
  await t.db.query(`DELETE FROM idx_token_patient WHERE resource_id LIKE 'ko%'`);
  assert.ok((await reindexBatch(batchDeps(codec, 50), job(null), 'Observation', 'ko')) >= 10);
  assert.deepEqual(await keyed(), written);
  const found = await app.deps.searcher.search(ctx, app.store, 'Observation', [['patient', 'kp1'], ['code', 'http://loinc.org|c0']], { strict: true });
  assert.deepEqual(found.entries.map((e) => e.id).sort(), ['ko4']);
});

test('a batch leaves alone a resource written between its read and its transaction (version ids compared)', async () => {
  const { id } = (await app.store.write(ctx, { kind: 'create', resource: patient('Racer', 'blue') })).stored;
  const jobId = await app.reindex.kickoff(ctx, ['Patient']);
  await waitFor(async () => (await app.reindex.status(ctx, jobId)).status === 'completed');
  const job = (await loadJob(t.db, DEFAULT_TENANT, jobId))!;
  let raced = false;
  // The codec runs between the batch's read and its transaction: the concurrent write happens exactly there.
  const codec = {
    encode: plaintextCodec.encode,
    async decode(identity: RowIdentity, bytes: Buffer) {
      if (identity.id === id && !raced) {
        raced = true;
        await app.store.write(ctx, { kind: 'update', id, resource: { ...patient('Racer', 'green'), id } });
      }
      return app.encryption.codec ? app.encryption.codec.decode(identity, bytes) : plaintextCodec.decode(identity, bytes);
    },
  };
  assert.ok((await reindexBatch(batchDeps(codec, 1000), { ...job, params: ['eyecolor'] }, 'Patient', '')) > 0);
  assert.ok(raced);
  const rows = await t.db.query<{ code: string }>(`SELECT code FROM idx_token WHERE param = 'eyecolor' AND resource_id = $1`, [id]);
  assert.deepEqual(rows.rows.map((r) => r.code), ['green']);
});
