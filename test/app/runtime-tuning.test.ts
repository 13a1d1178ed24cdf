import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/**
 * V8 prints "Error: unrecognized flag" to stderr, and ignores the flag, when
 * a Node upgrade brings a V8 without it: this fails then, rather than every
 * server start printing an error while the setting silently does nothing.
 */
test('the server’s V8 settings are all known to this Node’s V8', () => {
  const module = new URL('../../src/app/runtime-tuning.js', import.meta.url).href;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `import { tuneRuntime } from '${module}'; tuneRuntime(); tuneRuntime();`], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
});
