import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/server.js';

/** Resource bodies through the real API, with the rows at rest inspected and damaged directly. */
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.close());

const canary = () => `Canary${randomBytes(6).toString('hex')}`;

async function createPatient(family: string, given = 'Ann') {
  const res = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family, given: [given] }], telecom: [{ system: 'phone', value: `555-${family}` }] } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id as string;
}

async function rawContents(): Promise<Buffer[]> {
  const q = 'SELECT content FROM resource WHERE content IS NOT NULL UNION ALL SELECT content FROM resource_version WHERE content IS NOT NULL';
  return (await s.testDb.db.query<{ content: Buffer }>(q)).rows.map((r) => r.content);
}

function assertIntegrityFailure(res: { status: number; body: any }, id: string) {
  assert.equal(res.status, 500);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  const code = res.body.issue[0].details.coding[0].code;
  assert.ok(['CRYPTO_DECRYPT_FAILED', 'CRYPTO_CIPHERTEXT_INVALID'].includes(code), code);
  assert.match(res.body.issue[0].diagnostics, new RegExp(`Patient/${id}`));
  assert.doesNotMatch(JSON.stringify(res.body), /Canary/);
}

test('PHI canary: no resource or history row holds a canary string in its stored bytes', async () => {
  const names = [canary(), canary(), canary()];
  const ids = [];
  for (const n of names) ids.push(await createPatient(n, `${n}Given`));
  // An update and a delete, so history holds several versions.
  const updated = canary();
  const put = await s.fhir(`/Patient/${ids[0]}`, { method: 'PUT', json: { resourceType: 'Patient', id: ids[0], name: [{ family: updated }] } });
  assert.equal(put.status, 200);
  assert.equal((await s.fhir(`/Patient/${ids[1]}`, { method: 'DELETE' })).status, 200);
  const read = await s.fhir(`/Patient/${ids[0]}`);
  assert.equal(read.body.name[0].family, updated);
  const v1 = await s.fhir(`/Patient/${ids[0]}/_history/1`);
  assert.equal(v1.body.name[0].family, names[0]);
  const contents = await rawContents();
  assert.ok(contents.length >= 5);
  for (const c of contents) {
    assert.equal(c[0], 0x01, 'every stored body is an envelope');
    for (const n of [...names, updated]) {
      assert.ok(!c.includes(Buffer.from(n, 'utf8')), 'canary found in stored bytes');
      assert.ok(!c.toString('latin1').includes(n), 'canary found in stored bytes');
    }
    assert.ok(!c.includes(Buffer.from('"resourceType"')), 'plaintext JSON found in stored bytes');
  }
});

test('swapping two rows\' ciphertext makes both reads fail with an OperationOutcome, never the other patient', async () => {
  const a = await createPatient(canary());
  const b = await createPatient(canary());
  await s.testDb.db.query(
    `UPDATE resource r SET content = o.content FROM resource o
     WHERE r.tenant_id = 'default' AND o.tenant_id = 'default' AND r.resource_type = 'Patient' AND o.resource_type = 'Patient'
       AND ((r.id = $1 AND o.id = $2) OR (r.id = $2 AND o.id = $1))`,
    [a, b],
  );
  assertIntegrityFailure(await s.fhir(`/Patient/${a}`), a);
  assertIntegrityFailure(await s.fhir(`/Patient/${b}`), b);
  // History rows are untouched and still read.
  assert.equal((await s.fhir(`/Patient/${a}/_history/1`)).status, 200);
});

test('a flipped bit or a truncated body in resource or resource_version is refused', async () => {
  const flip = await createPatient(canary());
  await s.testDb.db.query(
    `UPDATE resource SET content = set_byte(content, 30, get_byte(content, 30) # 1) WHERE resource_type = 'Patient' AND id = $1`,
    [flip],
  );
  assertIntegrityFailure(await s.fhir(`/Patient/${flip}`), flip);
  const cut = await createPatient(canary());
  await s.testDb.db.query(`UPDATE resource SET content = substring(content from 1 for length(content) - 5) WHERE resource_type = 'Patient' AND id = $1`, [cut]);
  assertIntegrityFailure(await s.fhir(`/Patient/${cut}`), cut);
  await s.testDb.db.query(`UPDATE resource_version SET content = substring(content from 1 for 10) WHERE resource_type = 'Patient' AND id = $1`, [cut]);
  assertIntegrityFailure(await s.fhir(`/Patient/${cut}/_history/1`), cut);
  // A version copied over another version of the same resource is refused too.
  const twice = await createPatient(canary());
  await s.fhir(`/Patient/${twice}`, { method: 'PUT', json: { resourceType: 'Patient', id: twice, name: [{ family: canary() }] } });
  await s.testDb.db.query(
    `UPDATE resource_version v SET content = o.content FROM resource_version o
     WHERE v.resource_type = 'Patient' AND v.id = $1 AND v.version_id = 2 AND o.resource_type = 'Patient' AND o.id = $1 AND o.version_id = 1`,
    [twice],
  );
  assertIntegrityFailure(await s.fhir(`/Patient/${twice}/_history/2`), twice);
});

test('HAVEN_ENCRYPTION=off (test only) stores plaintext: the canary scan above would catch it', async () => {
  const plain = await startTestServer({ HAVEN_ENV: 'test', HAVEN_ENCRYPTION: 'off' });
  try {
    const n = canary();
    const res = await plain.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: n }] } });
    assert.equal(res.status, 201);
    const rows = await plain.testDb.db.query<{ content: Buffer }>('SELECT content FROM resource');
    assert.ok(rows.rows.some((r) => r.content.includes(Buffer.from(n))));
  } finally {
    await plain.close();
  }
});
