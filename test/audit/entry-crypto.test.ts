import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBytes, type CanonicalValue } from '../../src/audit/canonical.js';
import { cachingTagger, createAuditEntryCrypto, newTagCache, sealDetails, splitEntry, TAG_CACHE_ENTRIES, type AuditTagger } from '../../src/audit/entry-crypto.js';
import { entryOf, type AuditedContext, type AuditEntry } from '../../src/audit/entry.js';
import { TAG_DOMAIN, TAG_PREFIX } from '../../src/audit/sealed-entry.js';
import { blindTag, createKeyring, createLocalKms, type Keyring, type Kms } from '../../src/crypto/index.js';
import { asTenantId, silentLogger } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';

let t: TestDb;
let dataDir: string;
let kms: Kms;
let keyring: Keyring;
before(async () => {
  t = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-entry-crypto-'));
  kms = createLocalKms({ dataDir, env: 'test', logger: silentLogger });
  keyring = createKeyring({ db: t.db, kms });
});
after(async () => {
  await keyring.close();
  await kms.close();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const ctx = (over: Omit<Partial<AuditedContext>, 'principal'> & { principal?: Record<string, unknown> } = {}): AuditedContext => ({
  tenant: asTenantId('default'),
  requestId: 'req-1',
  sourceIp: '192.0.2.9',
  ...over,
  principal: { subject: 'clin-1', clientId: 'ehr', kind: 'user', scopes: [], ...over.principal } as AuditedContext['principal'],
});

const shapes: AuditEntry[] = [
  entryOf(ctx(), 'n1', new Date(0), { action: 'read', outcome: 'success', resources: [{ type: 'Observation', id: 'o-1', version: 3, patient: 'Patient/p-1' }] }),
  entryOf(ctx({ sourceIp: undefined }), 'n1', new Date(0), { action: 'search', outcome: 'success', resources: [{ type: 'Patient' }, { type: 'Observation', id: 'ö-2' }, { type: 'Encounter', version: 1 }, { type: 'Condition', patient: 'Patient/日本' }] }),
  entryOf(ctx({ principal: { subject: 'Patient/p-9', onBehalfOf: 'Patient/p-8', tokenId: 'tok' } }), 'n2', new Date(0), { action: 'read', outcome: 'failure', outcomeCode: 'X', status: 403, resources: [] }),
  entryOf(ctx({ principal: { onBehalfOf: 'Practitioner/dr' } }), 'n3', new Date(0), { action: 'create', outcome: 'success', resources: [{ type: 'Patient', id: 'p "quoted" \\ \u0001', version: 1, patient: 'Patient/p' }] }),
];

const fakeTag: AuditTagger = (kind, value) => `bi:${kind}:${value.length}`;

test('sealed details are their canonical JSON, byte for byte (the format the docs promise)', () => {
  for (const e of shapes) {
    for (const patientSubject of [false, true]) {
      const { details } = splitEntry(e, fakeTag, patientSubject);
      assert.deepEqual(sealDetails(details), canonicalBytes(details as unknown as CanonicalValue), JSON.stringify(details));
    }
  }
});

test('the public part keeps every member of the entry but its PHI, and seal/open round-trips it', async () => {
  const audit = createAuditEntryCrypto(keyring);
  const entries = shapes.map((e) => ({ ...e, tenant: 'default' }));
  const sealed = await audit.seal('default', entries, true);
  for (const [i, s] of sealed.entries()) {
    const e = entries[i]!;
    assert.equal(s.v, 2);
    for (const k of Object.keys(e)) if (!['who', 'where', 'resources', 'v'].includes(k)) assert.deepEqual((s as unknown as Record<string, unknown>)[k], (e as unknown as Record<string, unknown>)[k], k);
    const stored = JSON.stringify(s);
    for (const r of e.resources) {
      if (r.id) assert.equal(stored.includes(`"${r.id}"`), false, 'no id in clear');
      if (r.patient) assert.equal(stored.includes(r.patient), false, 'no patient in clear');
    }
    if (e.where.sourceIp) assert.equal(stored.includes(e.where.sourceIp), false);
  }
  assert.equal(entries[0]!.v, 1, 'the caller’s entry is not changed');
  const opened = await audit.open(sealed.map((entry, i) => ({ entryId: String(i), seq: null, entry: JSON.parse(JSON.stringify(entry)) as AuditEntry })));
  for (const [i, o] of opened.entries()) {
    assert.equal(o.unavailable, undefined);
    assert.deepEqual(canonicalBytes(o.entry as unknown as CanonicalValue), canonicalBytes({ ...entries[i]!, v: 2 } as unknown as CanonicalValue));
  }
});

test('cached tags are per tenant and key version, equal the HMAC, and stay right after the cache is cleared when full', async () => {
  const audit = createAuditEntryCrypto(keyring);
  const expected = (tenant: string, kind: keyof typeof TAG_DOMAIN, value: string) =>
    keyring.withActiveKey(tenant, 'blind-index', (key) => TAG_PREFIX + blindTag(key, 'exact', TAG_DOMAIN[kind], value).slice(2));
  const read = (tenant: string, patient: string) =>
    entryOf(ctx({ tenant: asTenantId(tenant) }), 'n', new Date(0), { action: 'read', outcome: 'success', resources: [{ type: 'Observation', id: 'o-1', patient }] });
  const check = async (tenant: string, patient: string) => {
    const [s] = await audit.seal(tenant, [read(tenant, patient)], false);
    assert.equal(s!.resources[0]!.patient, await expected(tenant, 'patient', patient));
    assert.equal(s!.resources[0]!.entity, await expected(tenant, 'entity', 'Observation/o-1'));
  };
  // The same values in two tenants: a cache keyed by value alone would hand tenant b tenant a's tags.
  await check('tenant-a', 'Patient/same');
  await check('tenant-b', 'Patient/same');
  assert.notEqual(await expected('tenant-a', 'patient', 'Patient/same'), await expected('tenant-b', 'patient', 'Patient/same'));
  // Past the patient tags' bound, then the first values again.
  await audit.seal('tenant-a', Array.from({ length: 20_500 }, (_, i) => read('tenant-a', `Patient/fill-${i}`)), false);
  await check('tenant-a', 'Patient/same');
  await check('tenant-b', 'Patient/same');
});

test('entity tags filling their bound do not push the patient tags out of the cache', async () => {
  const cache = newTagCache();
  await keyring.withActiveKey('tenant-a', 'blind-index', (key, ref) => {
    const tag = cachingTagger(cache, key, 'tenant-a', ref.version);
    const patients = Array.from({ length: 100 }, (_, i) => `Patient/p-${i}`);
    for (const p of patients) tag('patient', p);
    // Every read of a large store names a new resource: one entity tag past the bound clears the entity tags only.
    for (let i = 0; i <= TAG_CACHE_ENTRIES.entity; i++) tag('entity', `Observation/o-${i}`);
    const kinds = cache.byKey.get(`tenant-a\u0000${ref.version}`)!;
    assert.equal(kinds.patient.size, 100);
    assert.equal(kinds.entity.size, 1);
    assert.deepEqual(cache.size, { patient: 100, entity: 1, subject: 0 });
    for (const p of patients.slice(0, 3)) assert.equal(tag('patient', p), TAG_PREFIX + blindTag(key, 'exact', TAG_DOMAIN.patient, p).slice(2));
    assert.equal(tag('entity', 'Observation/o-0'), TAG_PREFIX + blindTag(key, 'exact', TAG_DOMAIN.entity, 'Observation/o-0').slice(2));
  });
});

test('seal gives the same entries whichever of the two keys is already in memory (synchronous and loading paths)', async () => {
  const entry = shapes[0]!;
  const cases: { name: string; warm: ('blind-index' | 'audit')[] }[] = [
    { name: 'none cached', warm: [] },
    { name: 'blind-index cached', warm: ['blind-index'] },
    { name: 'audit cached', warm: ['audit'] },
    { name: 'both cached', warm: ['blind-index', 'audit'] },
  ];
  let tagsSeen: string | undefined;
  for (const c of cases) {
    const ring = createKeyring({ db: t.db, kms });
    for (const purpose of c.warm) await ring.withActiveKey('default', purpose, () => undefined);
    const audit = createAuditEntryCrypto(ring);
    const [s] = await audit.seal('default', [{ ...entry }], false);
    const tags = JSON.stringify(s!.resources);
    assert.equal(tags, (tagsSeen ??= tags), `${c.name}: same tags`);
    const [o] = await audit.open([{ entryId: '1', seq: null, entry: JSON.parse(JSON.stringify(s)) as AuditEntry }]);
    assert.equal(o!.unavailable, undefined, c.name);
    assert.deepEqual(canonicalBytes(o!.entry as unknown as CanonicalValue), canonicalBytes({ ...entry, v: 2 } as unknown as CanonicalValue), c.name);
    await ring.close();
  }
});
