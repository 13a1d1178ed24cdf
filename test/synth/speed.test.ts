import assert from 'node:assert/strict';
import { it } from 'node:test';
import { synthStats, synthesize } from '../../src/synth/index.js';
import type { SynthStats } from '../../src/synth/index.js';

function timed(serialise: boolean): { resources: number; rate: number; megabytes: number } {
  let stats: SynthStats | undefined;
  let bytes = 0;
  const started = performance.now();
  for (const bundle of synthesize({ patients: 2000, seed: 1 })) {
    stats = synthStats(bundle, stats);
    if (serialise) bytes += JSON.stringify(bundle).length;
  }
  const resources = stats?.resources ?? 0;
  return { resources, rate: resources / ((performance.now() - started) / 1000), megabytes: bytes / 1e6 };
}

// A floor, not a benchmark: it fails only if generation could become the bottleneck of a
// 1M-resource import. Serialisation is reported but not asserted: JSON.stringify dominates it.
it('generates well over 50,000 resources per second', (t) => {
  timed(false); // warm-up, so the JIT has compiled the hot path
  const plain = timed(false);
  const json = timed(true);
  t.diagnostic(`${plain.resources} resources: ${Math.round(plain.rate)}/s as objects`);
  t.diagnostic(`${Math.round(json.rate)}/s including JSON.stringify (${json.megabytes.toFixed(1)} MB)`);
  assert.ok(plain.rate > 50_000, `only ${Math.round(plain.rate)} resources/s`);
});
