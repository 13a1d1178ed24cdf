import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HavenError } from '../../src/kernel/index.js';
import { createClientRegistry } from '../../src/auth/index.js';
import type { ClientRegistry } from '../../src/auth/index.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';
import { TENANT, clientKeys } from './harness.js';

const isCode = (code: string) => (e: unknown) => e instanceof HavenError && e.code === code;

describe('client registry', () => {
  let t: TestDb;
  let clients: ClientRegistry;
  before(async () => {
    t = await createTestDb();
    clients = createClientRegistry({ db: t.db });
  });
  after(async () => t.drop());

  it('registers, gets and lists clients', async () => {
    const rsa = await clientKeys('RS384');
    const c = await clients.register(TENANT, { clientId: 'b-app', name: 'B', jwks: { keys: [rsa.publicJwk] }, scopes: 'system/*.rs system/Patient.read' });
    assert.deepEqual(c.scopes, ['system/*.rs', 'system/Patient.read']);
    assert.equal(c.isAdmin, false);
    const ec = await clientKeys('ES384');
    await clients.register(TENANT, { clientId: 'a-app', name: 'A', jwks: { keys: [ec.publicJwk] }, scopes: ['system/*.cruds'], isAdmin: true });
    assert.equal((await clients.get(TENANT, 'a-app'))?.isAdmin, true);
    assert.deepEqual((await clients.list(TENANT)).map((x) => x.clientId), ['a-app', 'b-app']);
    await assert.rejects(clients.register(TENANT, { clientId: 'a-app', name: 'A', jwks: { keys: [ec.publicJwk] }, scopes: 'system/*.rs' }), isCode('OAUTH_CLIENT_EXISTS'));
  });

  it('refuses private keys, symmetric keys, bad algs and bad scopes', async () => {
    const ec = await clientKeys('ES384');
    const base = { clientId: 'x', name: 'X', scopes: 'system/*.rs' };
    const bad = [
      { ...base, jwks: { keys: [ec.privateJwk] } },
      { ...base, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } },
      { ...base, jwks: { keys: [{ ...ec.publicJwk, alg: 'HS256' }] } },
      { ...base, jwks: { keys: [] } },
      { ...base, jwks: 'nope' },
      { ...base, jwks: { keys: [ec.publicJwk] }, scopes: 'system/Patient.xyz' },
      { ...base, jwks: { keys: [ec.publicJwk] }, clientId: 'has space' },
    ];
    for (const input of bad) await assert.rejects(clients.register(TENANT, input), isCode('OAUTH_CLIENT_INVALID'));
    assert.equal(await clients.get(TENANT, 'x'), undefined);
  });

  it('rotates keys and disables clients', async () => {
    const next = await clientKeys('ES384');
    await clients.replaceJwks(TENANT, 'a-app', { keys: [next.publicJwk] });
    assert.equal((await clients.get(TENANT, 'a-app'))?.jwks.keys[0]?.kid, next.publicJwk.kid);
    await clients.setDisabled(TENANT, 'a-app', true);
    assert.equal((await clients.get(TENANT, 'a-app'))?.disabled, true);
    await assert.rejects(clients.setDisabled(TENANT, 'ghost', true), isCode('OAUTH_CLIENT_NOT_FOUND'));
  });
});
