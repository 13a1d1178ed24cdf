import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkArgs, parseOptions, serverSettings } from '../../bench/options.js';

test('bench options: known flags parse, with or without =', () => {
  const opts = parseOptions(['--backend', 'external', '--patients=400', '--reuse'], {});
  assert.deepEqual(opts.backends, ['external']);
  assert.equal(opts.patients, 400);
  assert.equal(opts.reuse, true);
});

test('bench options: an unknown or misspelt flag is refused before anything runs', () => {
  assert.throws(() => checkArgs(['--patient', '400']), /unknown argument "--patient"/);
  assert.throws(() => checkArgs(['--backend', 'external', 'stray']), /unknown argument "stray"/);
  assert.throws(() => checkArgs(['--reuse=1']), /unknown argument/);
  assert.doesNotThrow(() => checkArgs(['--help']));
});

test('bench options: the server settings a run records are the allowlisted ones that are set', () => {
  const env = { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off', HAVEN_OIDC_CLIENT_SECRET: 's3cret', BENCH_DATABASE: 'haven_x' };
  assert.deepEqual(serverSettings(env), { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' });
  assert.deepEqual(serverSettings({}), {});
});
