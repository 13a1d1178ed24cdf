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

/**
 * The old generation grows by at most its live size between full
 * collections (`--heap-growing-percent=100`). The child keeps ~20 MB of small
 * objects alive while replacing them (each batch lives long enough to be
 * promoted, as request and ingest objects are); by default V8 lets the heap
 * grow to several times the live size before it collects, tuned it must stay
 * well below that. Fails if the setting is dropped or no longer honoured.
 */
test('the server’s heap grows by at most its live size between full collections', () => {
  const module = new URL('../../src/app/runtime-tuning.js', import.meta.url).href;
  const churn = (tuned: boolean) => {
    const script = `
      import v8 from 'node:v8';
      import { tuneRuntime } from '${module}';
      if (${tuned}) tuneRuntime();
      const ring = new Array(24);
      let peak = 0;
      for (let i = 0; i < 500; i++) {
        const batch = [];
        for (let j = 0; j < 8000; j++) batch.push({ id: 'r-' + i + '-' + j, n: j, tags: [i, j] });
        ring[i % ring.length] = batch;
        peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
      }
      process.stdout.write(String(peak));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return Number(run.stdout);
  };
  const untunedPeak = churn(false);
  const tunedPeak = churn(true);
  assert.ok(tunedPeak < untunedPeak * 0.75, `tuned heap peak ${Math.round(tunedPeak / 1048576)} MB, untuned ${Math.round(untunedPeak / 1048576)} MB`);
});
