import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createClientAssertion, JWT_BEARER_ASSERTION, verifyPassword } from '../../src/auth/index.js';
import { clientKeys } from '../auth/harness.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, postForm, REDIRECT, tokenRequest } from './smart-support.js';

const PASSWORD = 'patient passphrase 123';

describe('SMART clients: private_key_jwt apps, public-client limits, `haven users add`', () => {
  let s: TestServer;
  let patient: string;
  let appToken: string;

  before(async () => {
    s = await startTestServer();
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Diaz' }] } })).body.id;
    await admin(s, '/auth/admin/users', { username: 'pat', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` });
  });
  after(() => s.close());

  it('a confidential asymmetric app (private_key_jwt) exchanges its code with a signed assertion', async () => {
    const keys = await clientKeys('ES384');
    const reg = await admin(s, '/auth/admin/clients', { clientId: 'jwt-app', name: 'JWT app', scopes: 'patient/*.rs', redirectUris: [REDIRECT], authMethod: 'private_key_jwt', jwks: { keys: [keys.publicJwk] } });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const b = new Browser(s.baseUrl);
    const { verifier, challenge } = pkce();
    const consent = await login(b, await b.go(authorizeUrl(s, { client_id: 'jwt-app', scope: 'patient/Patient.rs', code_challenge: challenge })), 'pat', PASSWORD);
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const code = codeFrom(back.location).code!;
    const base = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    assert.equal((await tokenRequest(s, { ...base, client_id: 'jwt-app' })).status, 401, 'a confidential client cannot act as a public one');
    const assertion = await createClientAssertion({ clientId: 'jwt-app', privateJwk: keys.privateJwk, tokenUrl: `${s.baseUrl}/auth/token` });
    const t = await tokenRequest(s, { ...base, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.patient, patient);
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.body.access_token })).status, 200);
    appToken = t.body.access_token;
    // The same assertion again is a replay.
    const replay = await postForm(s, '/auth/introspect', { token: t.body.access_token, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion });
    assert.equal(replay.status, 401);
    const fresh = await createClientAssertion({ clientId: 'jwt-app', privateJwk: keys.privateJwk, tokenUrl: `${s.baseUrl}/auth/introspect` });
    const info = await postForm(s, '/auth/introspect', { token: t.body.access_token, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: fresh });
    assert.equal(info.body.active, true);
    assert.equal(info.body.scope, 'patient/Patient.rs');
  });

  it('a public client may not use client_credentials nor introspect', async () => {
    await admin(s, '/auth/admin/clients', { clientId: 'pub', name: 'Public', scopes: 'patient/*.rs', redirectUris: [REDIRECT] });
    const cc = await tokenRequest(s, { grant_type: 'client_credentials', client_id: 'pub', scope: 'patient/*.rs' });
    assert.ok(cc.status === 400 || cc.status === 401);
    const intro = await postForm(s, '/auth/introspect', { token: 'x', client_id: 'pub' });
    assert.equal(intro.status, 401);
    const noAdmin = await fetch(`${s.baseUrl}/auth/admin/users`, { method: 'POST', headers: { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(noAdmin.status, 403, 'a user token is not an admin token');
    const anonymous = await fetch(`${s.baseUrl}/auth/admin/launch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(anonymous.status, 401);
  });

  it('`haven users add` reads the password from stdin, never argv', async () => {
    const args = ['bin/haven.js', 'users', 'add', '--url', s.baseUrl, '--username', 'cli-nurse', '--role', 'clinician'];
    const proc = spawn(process.execPath, args, { env: { ...process.env, HAVEN_DATA_DIR: s.dataDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.stdin.end('a secret from stdin!\n');
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /created user cli-nurse/);
    assert.ok(!out.includes('a secret from stdin!'));
    const row = await s.testDb.db.query<{ password_hash: string; plane: string; roles: string[] }>("SELECT password_hash, plane, roles FROM app_user WHERE username = 'cli-nurse'");
    assert.equal(row.rows[0]!.plane, 'workforce');
    assert.deepEqual(row.rows[0]!.roles, ['clinician']);
    assert.equal(await verifyPassword('a secret from stdin!', row.rows[0]!.password_hash), true);
  });
});
