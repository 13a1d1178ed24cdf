import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { isHavenError } from '../../src/kernel/index.js';

/** HAVEN_OIDC_PROVIDERS: several external OpenID providers, checked at start with messages that say what to fix. */
const entra = { id: 'entra', name: 'Staff', issuer: 'https://login.example.com/t1/v2.0', clientId: 'haven', clientSecret: 's1', rolesClaim: 'roles', roleMap: { 'Haven.Clinician': 'clinician' } };
const okta = { id: 'okta', name: 'Affiliate', issuer: 'https://affiliate.okta.example', clientId: 'haven', clientSecret: 's2', roleMap: 'partners=clinician, partner-admins=admin' };

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(isHavenError(err) && err.code === 'CONFIG_INVALID', String(err));
    return err.message;
  }
  return assert.fail('expected a configuration error');
}

describe('HAVEN_OIDC_PROVIDERS', () => {
  it('parses a JSON array; roleMap as an object or as group=role text; rolesClaim defaults to groups', () => {
    const c = loadConfig({ HAVEN_OIDC_PROVIDERS: JSON.stringify([entra, okta]) });
    assert.deepEqual(c.auth.oidc.providers, [
      entra,
      { ...okta, rolesClaim: 'groups', roleMap: { partners: 'clinician', 'partner-admins': 'admin' } },
    ]);
    assert.equal(loadConfig({}).auth.oidc.providers, undefined);
  });

  it('keeps the single-provider variables working beside the list', () => {
    const c = loadConfig({ HAVEN_OIDC_ISSUER: 'https://idp.example', HAVEN_OIDC_CLIENT_ID: 'h', HAVEN_OIDC_CLIENT_SECRET: 's', HAVEN_OIDC_ROLE_MAP: 'g=r', HAVEN_OIDC_PROVIDERS: JSON.stringify([okta]) });
    assert.equal(c.auth.oidc.issuer, 'https://idp.example');
    assert.equal(c.auth.oidc.providers?.length, 1);
  });

  it('refuses what would leave a provider half-set, naming the variable, provider and member', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['[{"id":', /HAVEN_OIDC_PROVIDERS: must be a JSON array .*not valid JSON/],
      [{}, /HAVEN_OIDC_PROVIDERS: .*array/i],
      [[], /HAVEN_OIDC_PROVIDERS: must name at least one provider/],
      [[{ ...entra, issuer: 'not a url' }], /HAVEN_OIDC_PROVIDERS: provider 1 issuer: /],
      [[{ ...entra, clientSecret: undefined }], /provider 1 clientSecret/],
      [[entra, { ...okta, id: 'Okta!' }], /provider 2 id: must be lower-case letters/],
      [[{ ...entra, roleMap: {} }], /provider 1 roleMap: must map at least one group/],
      [[{ ...entra, roleMap: 'a=b=c' }], /entry "a=b=c" must be group=role/],
      [[{ ...entra, roleMap: { g: 'Not A Role' } }], /not a Haven role name/],
      [[{ ...entra, clientSecert: 'typo' }], /provider 1: .*clientSecert/],
      [[entra, { ...okta, id: 'entra' }], /provider 2 id: "entra" is used by an earlier provider/],
      [[entra, { ...okta, issuer: entra.issuer }], /provider 2 issuer: .* is used by an earlier provider/],
    ];
    for (const [value, expected] of cases) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      assert.match(problems({ HAVEN_OIDC_PROVIDERS: text }), expected, text);
    }
  });

  it('needs https issuers in production, and keeps id "default" and its issuer for HAVEN_OIDC_ISSUER', () => {
    const http = [{ ...okta, issuer: 'http://idp.internal' }];
    assert.match(problems({ HAVEN_ENV: 'production', HAVEN_OIDC_PROVIDERS: JSON.stringify(http) }), /provider 1 issuer: must be https when HAVEN_ENV=production/);
    const single = { HAVEN_OIDC_ISSUER: 'https://idp.example', HAVEN_OIDC_CLIENT_ID: 'h', HAVEN_OIDC_CLIENT_SECRET: 's', HAVEN_OIDC_ROLE_MAP: 'g=r' };
    assert.match(problems({ ...single, HAVEN_OIDC_PROVIDERS: JSON.stringify([{ ...okta, id: 'default' }]) }), /belong to the provider of HAVEN_OIDC_ISSUER/);
    assert.match(problems({ ...single, HAVEN_OIDC_PROVIDERS: JSON.stringify([{ ...okta, issuer: 'https://idp.example' }]) }), /belong to the provider of HAVEN_OIDC_ISSUER/);
  });
});
