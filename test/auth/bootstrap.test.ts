import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientAssertion, ensureBootstrapClient } from '../../src/auth/index.js';
import type { BootstrapFile } from '../../src/auth/index.js';
import { TENANT, TOKEN_URL, createHarness, tokenForm } from './harness.js';
import type { AuthHarness } from './harness.js';

describe('bootstrap admin client', () => {
  let h: AuthHarness;
  let dir: string;
  before(async () => {
    h = await createHarness();
    dir = await mkdtemp(join(tmpdir(), 'haven-boot-'));
  });
  after(async () => {
    await h.testDb.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const readBootstrap = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as BootstrapFile;
  const tokenWith = async (saved: BootstrapFile) => {
    const assertion = await createClientAssertion({ clientId: saved.clientId, privateJwk: saved.privateJwk, tokenUrl: TOKEN_URL, now: h.clock.now() });
    return h.endpoint.issueToken(tokenForm(assertion, 'system/*.cruds'), { tokenUrl: TOKEN_URL, tenant: TENANT });
  };

  it('creates the client and a private key file readable only by the owner', async () => {
    const res = await ensureBootstrapClient({ db: h.testDb.db, tenant: TENANT, dir });
    assert.equal(res.action, 'created');
    assert.equal((await stat(res.file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'bootstrap'))).mode & 0o777, 0o700);
    const saved = await readBootstrap(res.file);
    assert.equal(saved.privateJwk.alg, 'ES384');
    assert.ok(saved.privateJwk.d);
    const client = await h.clients.get(TENANT, 'haven-admin');
    assert.equal(client?.isAdmin, true);
    assert.deepEqual(client?.scopes, ['system/*.*', 'system/*.cruds']);
    assert.equal(client?.jwks.keys[0]?.d, undefined);
    const token = await tokenWith(saved);
    const principal = await h.verifier.verify(`Bearer ${token.access_token}`);
    assert.equal(principal.isAdmin, true);
  });

  it('does nothing on later starts', async () => {
    const before = await readFile(join(dir, 'bootstrap', 'admin-client.json'), 'utf8');
    const res = await ensureBootstrapClient({ db: h.testDb.db, tenant: TENANT, dir });
    assert.equal(res.action, 'unchanged');
    assert.equal(await readFile(res.file, 'utf8'), before);
  });

  it('rotates the key when the file was deleted', async () => {
    const file = join(dir, 'bootstrap', 'admin-client.json');
    const old = await readBootstrap(file);
    await rm(file);
    const res = await ensureBootstrapClient({ db: h.testDb.db, tenant: TENANT, dir, tokenUrl: TOKEN_URL });
    assert.equal(res.action, 'rotated');
    const saved = await readBootstrap(file);
    assert.notEqual(saved.privateJwk.kid, old.privateJwk.kid);
    assert.equal(saved.tokenUrl, TOKEN_URL);
    await tokenWith(saved);
    await assert.rejects(tokenWith(old), /signature|key/);
  });
});
