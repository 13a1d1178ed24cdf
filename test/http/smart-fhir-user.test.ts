import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, tokenRequest } from './smart-support.js';

const PASSWORD = 'a long enough clinician passphrase';
const SCOPE = 'openid fhirUser user/*.rs';

/** PATCH /auth/admin/users/{user} with the bootstrap admin client's token. */
async function patchUser(s: TestServer, user: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.baseUrl}/auth/admin/users/${encodeURIComponent(user)}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${await s.token()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('SMART openid fhirUser for workforce users linked to a Practitioner or PractitionerRole', () => {
  let s: TestServer;
  let practitioner: string;
  let role: string;
  let patient: string;

  before(async () => {
    s = await startTestServer();
    practitioner = (await s.fhir('/Practitioner', { method: 'POST', json: { resourceType: 'Practitioner', name: [{ family: 'Osler' }] } })).body.id;
    role = (await s.fhir('/PractitionerRole', { method: 'POST', json: { resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${practitioner}` } } })).body.id;
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Lind' }] } })).body.id;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'staff-app', name: 'Staff app', scopes: SCOPE, redirectUris: [REDIRECT] })).status, 201);
  });
  after(() => s.close());

  /** Authorization-code flow of a non-admin workforce user (no MFA), every requested scope approved. */
  async function signIn(username: string): Promise<{ status: number; body: any }> {
    const b = new Browser(s.baseUrl);
    const { verifier, challenge } = pkce();
    const page = await b.go(authorizeUrl(s, { client_id: 'staff-app', scope: SCOPE, code_challenge: challenge }));
    const consent = await login(b, page, username, PASSWORD);
    assert.match(consent.html, /Allow/, 'a clinician without an authenticator goes straight to consent');
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: ['user/*.rs'] });
    const { code } = codeFrom(back.location);
    assert.ok(code, `no code: ${back.location}`);
    return tokenRequest(s, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'staff-app', code_verifier: verifier });
  }

  const verifyIdToken = async (idToken: string) => {
    const jwks = createRemoteJWKSet(new URL(`${s.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer: s.baseUrl, audience: 'staff-app', algorithms: ['RS256'] });
    assert.equal(protectedHeader.alg, 'RS256');
    return payload;
  };

  it('a linked clinician: the id_token (RS256, from the JWKS) carries fhirUser, which resolves with the access token', async () => {
    const created = await admin(s, '/auth/admin/users', { username: 'dr-osler', password: PASSWORD, roles: ['clinician'], fhirUser: `Practitioner/${practitioner}` });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.fhirUser, `Practitioner/${practitioner}`);
    assert.equal(created.body.plane, 'workforce');

    const t = await signIn('dr-osler');
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.deepEqual(t.body.scope.split(' ').sort(), SCOPE.split(' ').sort());
    const claims = await verifyIdToken(t.body.id_token);
    assert.equal(claims['fhirUser'], `${s.fhirUrl}/Practitioner/${practitioner}`, 'absolute URL on the FHIR base');
    assert.equal(typeof claims.sub, 'string');
    // The grant's launch context carries it too: the access token's claim (and so introspection).
    const access = JSON.parse(Buffer.from(t.body.access_token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
    assert.equal(access['fhirUser'], claims['fhirUser']);
    const me = await fetch(claims['fhirUser'] as string, { headers: { authorization: `Bearer ${t.body.access_token}` } });
    assert.equal(me.status, 200);
    const body = (await me.json()) as { resourceType: string; id: string };
    assert.equal(body.resourceType, 'Practitioner');
    assert.equal(body.id, practitioner);
  });

  it('a clinician with no link gets an id_token without fhirUser (and no error); relinking revokes the grants issued under the old link', async () => {
    assert.equal((await admin(s, '/auth/admin/users', { username: 'nurse-lind', password: PASSWORD, roles: ['nurse'] })).status, 201);
    const unlinked = await signIn('nurse-lind');
    assert.equal(unlinked.status, 200, JSON.stringify(unlinked.body));
    assert.ok(unlinked.body.id_token, 'openid was granted');
    assert.equal((await verifyIdToken(unlinked.body.id_token))['fhirUser'], undefined);

    // Linked later through the admin API, to a PractitionerRole: the grant that named no resource is revoked.
    const linked = await patchUser(s, 'nurse-lind', { fhirUser: `PractitionerRole/${role}` });
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
    assert.equal(linked.body.fhirUser, `PractitionerRole/${role}`);
    assert.equal(linked.body.grantsRevoked, 1);
    assert.equal((await s.fhir(`/PractitionerRole/${role}`, { token: unlinked.body.access_token })).status, 401);
    const asRole = await signIn('nurse-lind');
    assert.equal(asRole.status, 200, JSON.stringify(asRole.body));
    const roleUrl = (await verifyIdToken(asRole.body.id_token))['fhirUser'] as string;
    assert.equal(roleUrl, `${s.fhirUrl}/PractitionerRole/${role}`);
    assert.equal((await fetch(roleUrl, { headers: { authorization: `Bearer ${asRole.body.access_token}` } })).status, 200);

    // Unlinked again (null): no claim, no error.
    const cleared = await patchUser(s, 'nurse-lind', { fhirUser: null });
    assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
    assert.equal(cleared.body.fhirUser, undefined);
    const again = await signIn('nurse-lind');
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal((await verifyIdToken(again.body.id_token))['fhirUser'], undefined);

    const audit = await s.testDb.db.query<{ c: string }>("SELECT convert_from(canonical, 'UTF8') AS c FROM audit_entry WHERE action = 'login'");
    const updates = audit.rows.filter((r) => r.c.includes('"operation":"auth.user-updated"'));
    assert.equal(updates.length, 2, 'each change is audited');
  });

  it('refuses bad links with a clear error, at creation and at update', async () => {
    const bad = [
      'Practitioner',
      `Practitioner/`,
      'Practitioner/has space',
      `Practitioner/${'x'.repeat(65)}`,
      `Organization/${practitioner}`,
      `Patient/${patient}`,
      `${s.fhirUrl}/Practitioner/${practitioner}`,
      42,
    ];
    for (const fhirUser of bad) {
      const res = await admin(s, '/auth/admin/users', { username: 'dr-bad', password: PASSWORD, roles: ['clinician'], fhirUser });
      assert.equal(res.status, 400, `${JSON.stringify(fhirUser)} refused`);
      assert.match(res.body.issue[0].diagnostics, /fhirUser must be Practitioner\/\{id\} or PractitionerRole\/\{id\}/);
    }
    const missing = await admin(s, '/auth/admin/users', { username: 'dr-bad', password: PASSWORD, roles: ['clinician'], fhirUser: 'Practitioner/no-such-practitioner' });
    assert.equal(missing.status, 400);
    assert.match(missing.body.issue[0].diagnostics, /Practitioner\/no-such-practitioner does not exist/);
    // Nothing was created by the refused requests.
    assert.equal((await s.testDb.db.query("SELECT 1 FROM app_user WHERE username = 'dr-bad'")).rowCount, 0);

    assert.equal((await admin(s, '/auth/admin/users', { username: 'dr-later', password: PASSWORD, roles: ['clinician'] })).status, 201);
    for (const fhirUser of ['Practitioner/no-such-practitioner', `Patient/${patient}`, '']) {
      const res = await patchUser(s, 'dr-later', { fhirUser });
      assert.equal(res.status, 400, `${JSON.stringify(fhirUser)} refused`);
    }
    const extra = await patchUser(s, 'dr-later', { fhirUser: `Practitioner/${practitioner}`, roles: ['admin'] });
    assert.equal(extra.status, 400, 'only fhirUser can be changed');
    assert.match(extra.body.issue[0].diagnostics, /only fhirUser can be changed \(not roles\)/);
    assert.equal((await patchUser(s, 'no-such-user', { fhirUser: `Practitioner/${practitioner}` })).status, 404);
    const row = await s.testDb.db.query<{ workforce_fhir_user: string | null }>("SELECT workforce_fhir_user FROM app_user WHERE username = 'dr-later'");
    assert.equal(row.rows[0]!.workforce_fhir_user, null, 'refused updates change nothing');
  });

  it('a patient-plane user cannot be given a Practitioner link, at creation, by update, or in the database', async () => {
    const both = await admin(s, '/auth/admin/users', { username: 'lind', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}`, fhirUser: `Practitioner/${practitioner}` });
    assert.equal(both.status, 400);
    assert.match(both.body.issue[0].diagnostics, /workforce users only/);
    const created = await admin(s, '/auth/admin/users', { username: 'lind', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` });
    assert.equal(created.status, 201);
    assert.equal(created.body.fhirUser, `Patient/${patient}`, 'patients keep their Patient link');
    const update = await patchUser(s, 'lind', { fhirUser: `Practitioner/${practitioner}` });
    assert.equal(update.status, 400);
    assert.match(update.body.issue[0].diagnostics, /workforce users only/);
    await assert.rejects(
      s.testDb.db.query("UPDATE app_user SET workforce_fhir_user = $1 WHERE username = 'lind'", [`Practitioner/${practitioner}`]),
      /app_user_workforce_fhir_user/,
      'the table check keeps the planes apart',
    );
  });
});
