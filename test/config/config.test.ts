import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { envMap, loadConfig } from '../../src/config/index.js';
import { HavenError } from '../../src/kernel/index.js';

test('defaults give a secure local server on the embedded database', () => {
  const c = loadConfig({});
  assert.equal(c.http.host, '127.0.0.1');
  assert.equal(c.http.port, 8080);
  assert.equal(c.dataDir, './haven-data');
  assert.equal(c.database.url, undefined);
});

test('every problem is listed, each naming its variable', () => {
  try {
    loadConfig({ HAVEN_PORT: '99999', DATABASE_URL: 'mysql://x', HAVEN_LOG_LEVEL: 'loud', HAVEN_TYPO: '1' });
    assert.fail('expected a configuration error');
  } catch (err) {
    assert.ok(err instanceof HavenError);
    assert.equal(err.code, 'CONFIG_INVALID');
    for (const name of ['HAVEN_PORT', 'DATABASE_URL', 'HAVEN_LOG_LEVEL', 'HAVEN_TYPO']) assert.match(err.message, new RegExp(name));
  }
});

test('values are coerced and applied', () => {
  const c = loadConfig({ HAVEN_PORT: '9000', HAVEN_VALIDATE_ON_WRITE: 'false', DATABASE_URL: 'postgres://u@h/db' });
  assert.equal(c.http.port, 9000);
  assert.equal(c.validateOnWrite, false);
  assert.equal(c.database.url, 'postgres://u@h/db');
});

test('embedded shared_buffers: unset by default (sized to the machine), an override in MB, bounds named', () => {
  assert.equal(loadConfig({}).database.embeddedSharedBuffersMb, undefined);
  assert.equal(loadConfig({ HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB: '512' }).database.embeddedSharedBuffersMb, 512);
  assert.throws(() => loadConfig({ HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB: '8' }), /HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB/);
  assert.throws(() => loadConfig({ HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB: '1GB' }), /HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB/);
});

test('HL7 v2 group-commit limits: defaults, overrides, bounds', () => {
  assert.deepEqual([loadConfig({}).hl7v2.groupMessages, loadConfig({}).hl7v2.groupsInFlight], [32, 2]);
  const c = loadConfig({ HAVEN_HL7_GROUP_MESSAGES: '8', HAVEN_HL7_GROUPS_IN_FLIGHT: '3' });
  assert.deepEqual([c.hl7v2.groupMessages, c.hl7v2.groupsInFlight], [8, 3]);
  assert.throws(() => loadConfig({ HAVEN_HL7_GROUPS_IN_FLIGHT: '0' }), /HAVEN_HL7_GROUPS_IN_FLIGHT/);
  assert.throws(() => loadConfig({ HAVEN_HL7_GROUP_MESSAGES: '1000' }), /HAVEN_HL7_GROUP_MESSAGES/);
});

test('docs/configuration.md documents every variable', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const name of Object.keys(envMap)) assert.match(doc, new RegExp(`\`${name}\``), `${name} is not documented`);
});
