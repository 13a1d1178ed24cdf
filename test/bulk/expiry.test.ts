import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app/build.js';
import { parseKickoff } from '../../src/bulk/index.js';
import { loadConfig } from '../../src/config/index.js';
import { DEFAULT_TENANT, silentLogger, type RequestContext } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';

/** Files expire: the sweep deletes them and the audit log records the deletion. */
let t: TestDb;
let dataDir: string;
let app: ReturnType<typeof buildApp>;
const ctx: RequestContext = {
  tenant: DEFAULT_TENANT,
  requestId: 'expiry-test',
  principal: { subject: 'exporter', clientId: 'exporter', kind: 'client', scopes: ['system/*.rs'] },
};

before(async () => {
  t = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-bulk-expiry-'));
  const config = loadConfig({ HAVEN_DATA_DIR: dataDir });
  app = buildApp({ config, db: t.db, logger: silentLogger, baseUrl: 'http://127.0.0.1:1', tenant: DEFAULT_TENANT, ready: () => t.db.ping() });
  await app.encryption.start();
  for (let i = 0; i < 3; i++) await app.store.write(ctx, { kind: 'create', resource: { resourceType: 'Patient', name: [{ family: `E${i}` }] } });
  app.bulk.start();
});
after(async () => {
  await app.http.close();
  await app.bulk.stop();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function completed(jobId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await t.db.query<{ status: string }>('SELECT status FROM bulk_job WHERE job_id = $1', [jobId]);
    if (r.rows[0]?.status === 'complete') return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('export did not complete');
}

test('an expired export is swept: files deleted, job gone for the client, deletion audited', async () => {
  const jobId = await app.bulk.kickoff(ctx, parseKickoff('system', undefined, [['_type', 'Patient']]), 'http://x/fhir/$export');
  await completed(jobId);
  const folder = join(dataDir, 'blobs', 'default', 'bulk', jobId);
  assert.equal(readdirSync(folder).length, 1);
  assert.equal(await app.bulk.sweep(), 0, 'nothing is due yet');
  await t.db.query(`UPDATE bulk_job SET expires_at = now() - interval '1 second' WHERE job_id = $1`, [jobId]);
  assert.equal(await app.bulk.sweep(), 1);
  assert.equal(existsSync(folder), false);
  await assert.rejects(app.bulk.status(ctx, jobId, 'http://x'), { code: 'BULK_JOB_NOT_FOUND' });
  const audit = await t.db.query<{ action: string; client_id: string }>('SELECT action, client_id FROM audit_entry WHERE request_id = $1', [`bulk/${jobId}/expired`]);
  assert.deepEqual(audit.rows, [{ action: 'delete', client_id: 'exporter' }]);
});
