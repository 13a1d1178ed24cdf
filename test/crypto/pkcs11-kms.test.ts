import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Pkcs11 from 'pkcs11js';
import { createEnvelopeCodec, createKeyring, createPkcs11Kms, dekContext, rotateKek, type Kms } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { skipUnlessSoftHsm, softHsm } from './softhsm.js';

const hsm = softHsm();
const opts = skipUnlessSoftHsm(hsm);
const token = typeof hsm === 'string' ? undefined : hsm;
let t: TestDb;
let kms: Kms;
const kekLabel = `haven-kek-${randomBytes(4).toString('hex')}`;
before(async () => {
  if (!token) return;
  t = await createTestDb();
  kms = await createPkcs11Kms({ ...token, kekLabel, logger: silentLogger });
});
after(async () => {
  if (!token) return;
  await kms.close();
  await t.drop();
});

test('PKCS#11: wraps and unwraps DEKs inside the token; the KEK is sensitive and not extractable', opts, async () => {
  const dek = randomBytes(32);
  const context = dekContext('default', 'resources');
  const wrapped = await kms.wrap(dek, context);
  assert.equal(wrapped.length, 2 + 8 + 12 + 32 + 16);
  assert.ok(!wrapped.includes(dek));
  assert.deepEqual(await kms.unwrap(wrapped, context), dek);
  assert.notDeepEqual(await kms.wrap(dek, context), wrapped, 'fresh IV per wrap');
  const bad = Buffer.from(wrapped);
  bad[bad.length - 1]! ^= 1;
  await assert.rejects(kms.unwrap(bad, context), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED');
  // Bound to its tenant and purpose inside the HSM too.
  await assert.rejects(kms.unwrap(wrapped, dekContext('other', 'resources')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED');
  assert.match(kms.describe().kekId, /^pkcs11:[0-9a-f]{16}$/);

  // Look at the KEK object through a second PKCS#11 client.
  const lib = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11;
  const p = new lib.PKCS11();
  p.load(token!.library);
  try {
    p.C_Initialize();
  } catch (err) {
    assert.match(String(err), /ALREADY_INITIALIZED/); // the adapter under test shares the library
  }
  {
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token!.tokenLabel)!;
    const session = p.C_OpenSession(slot, lib.CKF_SERIAL_SESSION);
    assert.throws(() => p.C_Login(session, lib.CKU_USER, token!.pin), /ALREADY_LOGGED_IN/);
    p.C_FindObjectsInit(session, [{ type: lib.CKA_LABEL, value: kekLabel }]);
    const [kek] = p.C_FindObjects(session, 2);
    p.C_FindObjectsFinal(session);
    assert.ok(kek);
    const attrs = p.C_GetAttributeValue(session, kek, [{ type: lib.CKA_SENSITIVE }, { type: lib.CKA_EXTRACTABLE }, { type: lib.CKA_TOKEN }]);
    assert.deepEqual(attrs.map((a) => a.value![0]), [1, 0, 1]);
    assert.throws(() => p.C_GetAttributeValue(session, kek, [{ type: lib.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
    p.C_CloseSession(session);
  }
});

test('PKCS#11: envelope codec round trip and KEK rotation re-wraps every DEK', opts, async () => {
  const keyring = createKeyring({ db: t.db, kms });
  const codec = createEnvelopeCodec({ keyring });
  const identity = { tenant: 'default', resourceType: 'Patient', id: 'h1', versionId: 1 };
  const json = '{"resourceType":"Patient","id":"h1"}';
  const bytes = await codec.encode(identity, json);
  await codec.encode({ ...identity, tenant: 'second' }, json);
  const before = (await t.db.query<{ wrapped: Buffer; tenant_id: string; purpose: string }>('SELECT wrapped, tenant_id, purpose FROM data_key ORDER BY tenant_id')).rows;
  const oldKek = kms.describe().kekId;

  const result = await rotateKek({ db: t.db, kms, logger: silentLogger });
  assert.equal(result.from, oldKek);
  assert.equal(result.rewrapped, 2);
  assert.notEqual(kms.describe().kekId, oldKek);
  const rows = (await t.db.query<{ kek_id: string; wrapped: Buffer }>('SELECT kek_id, wrapped FROM data_key ORDER BY tenant_id')).rows;
  assert.ok(rows.every((r) => r.kek_id === result.to));
  rows.forEach((r, i) => assert.notDeepEqual(r.wrapped, before[i]!.wrapped));

  keyring.clear(); // force unwrapping with the new KEK
  assert.equal(await codec.decode(identity, bytes), json);
  // The retired KEK still unwraps what it wrapped (old backups).
  assert.equal((await kms.unwrap(before[0]!.wrapped, dekContext(before[0]!.tenant_id, before[0]!.purpose))).length, 32);
  // A fresh process finds the new KEK by its label.
  const again = await createPkcs11Kms({ ...token!, kekLabel, logger: silentLogger });
  try {
    assert.equal(again.describe().kekId, result.to);
  } finally {
    await again.close();
  }
});
