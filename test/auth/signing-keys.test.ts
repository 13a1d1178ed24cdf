import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { asTenantId } from '../../src/kernel/index.js';
import { createSigningKeyStore } from '../../src/auth/index.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';

describe('signing keys', () => {
  let t: TestDb;
  before(async () => {
    t = await createTestDb();
  });
  after(async () => t.drop());

  it('creates one key per tenant on first use, even with concurrent nodes', async () => {
    const tenant = asTenantId('default');
    const nodes = [createSigningKeyStore({ db: t.db }), createSigningKeyStore({ db: t.db }), createSigningKeyStore({ db: t.db })];
    const kids = await Promise.all(nodes.map(async (n) => (await n.activeKey(tenant)).kid));
    assert.equal(new Set(kids).size, 1);
    const rows = await t.db.query('SELECT alg FROM signing_key WHERE tenant_id = $1', [tenant]);
    assert.equal(rows.rowCount, 1);
    assert.equal(rows.rows[0]?.alg, 'ES256');
  });

  it('publishes public keys only and resolves them by kid', async () => {
    const store = createSigningKeyStore({ db: t.db });
    const tenant = asTenantId('default');
    const { keys } = await store.jwks(tenant);
    assert.equal(keys.length, 1);
    const [jwk] = keys;
    assert.equal(jwk?.d, undefined);
    assert.equal(jwk?.use, 'sig');
    assert.ok((await store.verificationKey(tenant, jwk!.kid!))?.key);
    assert.equal(await store.verificationKey(tenant, 'nope'), undefined);
  });

  it('keeps tenants apart and supports EdDSA', async () => {
    const store = createSigningKeyStore({ db: t.db, alg: 'EdDSA' });
    const a = await store.activeKey(asTenantId('tenant-a'));
    const def = await store.activeKey(asTenantId('default'));
    assert.equal(a.alg, 'EdDSA');
    assert.notEqual(a.kid, def.kid);
    assert.equal(await store.verificationKey(asTenantId('tenant-a'), def.kid), undefined);
  });

  it('does not create keys when only asked for the JWKS of an unknown tenant', async () => {
    const store = createSigningKeyStore({ db: t.db });
    assert.deepEqual(await store.jwks(asTenantId('nobody')), { keys: [] });
    const rows = await t.db.query("SELECT 1 FROM signing_key WHERE tenant_id = 'nobody'");
    assert.equal(rows.rowCount, 0);
  });
});
