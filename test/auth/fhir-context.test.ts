import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseFhirContext } from '../../src/auth/fhir-context.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, postForm, REDIRECT, tokenRequest } from '../http/smart-support.js';

describe('fhirContext: shape checked when the launch is registered', () => {
  it('accepts references, canonicals and identifiers, with type and role', () => {
    const ok = [
      { reference: 'Observation/obs-1' },
      { canonical: 'http://example.org/Questionnaire/phq9|1.0', type: 'Questionnaire' },
      { identifier: { system: 'urn:oid:1.2.3', value: 'A-7' }, type: 'ServiceRequest' },
      { reference: 'Patient/p2', role: 'https://example.org/roles/sibling' },
      { reference: 'ImagingStudy/is-1', type: 'ImagingStudy', role: 'launch' },
    ];
    assert.deepEqual(parseFhirContext(ok), ok);
  });

  it('refuses what a client could not read', () => {
    const bad: [unknown, RegExp][] = [
      ['Observation/1', /array/],
      [['Observation/1'], /\[0\]: must be an object/],
      [[{ type: 'Observation' }], /needs a reference, canonical or identifier/],
      [[{ reference: 'http://other.example/fhir/Observation/1' }], /relative reference/],
      [[{ reference: 'Observation/1/_history/2' }], /relative reference/],
      [[{ reference: 'Observation/1', type: 'Condition' }], /type differs/],
      [[{ reference: 'Patient/1' }], /patient parameter/],
      [[{ reference: 'Encounter/1', role: 'launch' }], /encounter parameter/],
      [[{ canonical: 'Questionnaire/1' }], /canonical/],
      [[{ identifier: { value: '' } }], /identifier.value/],
      [[{ identifier: { value: 'x', period: {} } }], /only system and value/],
      [[{ reference: 'Observation/1', role: 'sibling' }], /role/],
      [[{ reference: 'Observation/1', display: 'x' }], /unknown member display/],
      [[{ reference: 42 }], /reference must be a string/],
      [Array.from({ length: 21 }, (_, i) => ({ reference: `Observation/${i}` })), /more than 20/],
    ];
    for (const [value, message] of bad) assert.throws(() => parseFhirContext(value), message, JSON.stringify(value).slice(0, 80));
  });
});

describe('fhirContext: returned with the tokens of an EHR launch', () => {
  let s: TestServer;
  let patient: string;
  let rsSecret: string;
  const PASSWORD = 'clinician passphrase 42';

  before(async () => {
    s = await startTestServer();
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Context' }] } })).body.id;
    const client = await admin(s, '/auth/admin/clients', { clientId: 'ctx-app', name: 'Ctx', scopes: 'launch online_access patient/*.rs', redirectUris: [REDIRECT] });
    assert.equal(client.status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'nurse', password: PASSWORD, roles: ['clinician'] })).status, 201);
    const rs = await admin(s, '/auth/admin/clients', { clientId: 'ctx-rs', name: 'Resource server', scopes: 'openid', authMethod: 'client_secret_basic', redirectUris: [REDIRECT] });
    assert.equal(rs.status, 201);
    rsSecret = rs.body.clientSecret;
  });
  after(() => s.close());

  async function launchToken(launch: string): Promise<Record<string, any>> {
    const { verifier, challenge } = pkce();
    const b = new Browser(s.baseUrl);
    const consent = await login(b, await b.go(authorizeUrl(s, { client_id: 'ctx-app', scope: 'launch online_access patient/Patient.rs', code_challenge: challenge, launch })), 'nurse', PASSWORD);
    assert.match(consent.html, /Allow/);
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'ctx-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return t.body;
  }

  it('token and refresh responses carry the registered fhirContext as an array of objects', async () => {
    const fhirContext = [{ reference: 'DiagnosticReport/dr-9' }, { canonical: 'http://example.org/Questionnaire/intake', type: 'Questionnaire' }];
    const launch = await admin(s, '/auth/admin/launch', { patient, encounter: 'enc-7', fhirContext });
    assert.equal(launch.status, 201, JSON.stringify(launch.body));
    const t = await launchToken(launch.body.launch);
    assert.equal(t['patient'], patient);
    assert.equal(t['encounter'], 'enc-7');
    assert.deepEqual(t['fhirContext'], fhirContext);
    const r = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: t['refresh_token'], client_id: 'ctx-app' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.fhirContext, fhirContext, 'the context stays with the grant');
  });

  it('introspection of live access and refresh tokens carries patient, encounter and fhirContext', async () => {
    const fhirContext = [{ reference: 'DiagnosticReport/dr-1' }, { identifier: { system: 'urn:oid:1.2.3', value: 'A-7' }, type: 'ServiceRequest' }];
    const launch = await admin(s, '/auth/admin/launch', { patient, encounter: 'enc-8', fhirContext });
    const t = await launchToken(launch.body.launch);
    const introspect = async (token: string) => (await postForm(s, '/auth/introspect', { token }, `ctx-rs:${rsSecret}`)).body;
    const access = await introspect(t['access_token']);
    assert.equal(access.active, true);
    assert.equal(access.token_type, 'Bearer');
    assert.equal(access.patient, patient);
    assert.equal(access.encounter, 'enc-8');
    assert.deepEqual(access.fhirContext, fhirContext);
    const refresh = await introspect(t['refresh_token']);
    assert.equal(refresh.active, true);
    assert.equal(refresh.token_type, 'refresh_token');
    assert.equal(refresh.patient, patient);
    assert.equal(refresh.encounter, 'enc-8');
    assert.deepEqual(refresh.fhirContext, fhirContext);
    const plain = await launchToken((await admin(s, '/auth/admin/launch', { patient })).body.launch);
    assert.equal((await introspect(plain['access_token'])).fhirContext, undefined, 'no context, no member');
    // Once the grant is revoked the token is inactive and nothing of its context is disclosed.
    assert.equal((await postForm(s, '/auth/revoke', { token: t['refresh_token'], client_id: 'ctx-app' })).status, 200);
    assert.deepEqual(await introspect(t['access_token']), { active: false });
    assert.deepEqual(await introspect(t['refresh_token']), { active: false });
  });

  it('a launch without extra context gives no fhirContext; a malformed one is refused at registration', async () => {
    const plain = await admin(s, '/auth/admin/launch', { patient });
    assert.equal((await launchToken(plain.body.launch))['fhirContext'], undefined);
    const bad = await admin(s, '/auth/admin/launch', { patient, fhirContext: [{ reference: `Patient/${patient}` }] });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /AUTH_LAUNCH_INVALID|patient parameter/);
    const strings = await admin(s, '/auth/admin/launch', { patient, fhirContext: ['Observation/1'] });
    assert.equal(strings.status, 400, 'the SMART 2.0.0 string form is not what clients of 2.x read');
  });
});
