import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng, mixSeed } from '../../src/synth/random.js';

describe('synth random', () => {
  it('repeats the same sequence for the same seed and differs for another', () => {
    const draw = (seed: number): number[] => {
      const rng = createRng(seed);
      return Array.from({ length: 50 }, () => rng.next());
    };
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
  });

  it('stays in range and is roughly uniform', () => {
    const rng = createRng(1);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      assert.ok(x >= 0 && x < 1);
      buckets[Math.floor(x * 10)]! += 1;
    }
    for (const count of buckets) assert.ok(Math.abs(count - 10_000) < 500, `bucket ${count}`);
    for (let i = 0; i < 10_000; i++) {
      const n = rng.int(3, 8);
      assert.ok(Number.isInteger(n) && n >= 3 && n <= 8);
    }
  });

  it('draws normal values with about the requested mean and sd', () => {
    const rng = createRng(3);
    const xs = Array.from({ length: 50_000 }, () => rng.normal(100, 15));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    assert.ok(Math.abs(mean - 100) < 0.5, `mean ${mean}`);
    assert.ok(Math.abs(sd - 15) < 0.5, `sd ${sd}`);
  });

  it('samples distinct items in list order', () => {
    const rng = createRng(4);
    const items = [...'abcdefghij'];
    for (let i = 0; i < 200; i++) {
      const picked = rng.sample(items, 4);
      assert.equal(picked.length, 4);
      assert.deepEqual(picked, [...picked].sort());
      assert.equal(new Set(picked).size, 4);
    }
    assert.equal(rng.sample(items, 20).length, items.length);
  });

  it('formats version-4 UUIDs and mixes seeds without obvious collisions', () => {
    const rng = createRng(5);
    const uuid = rng.uuid();
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const seeds = new Set<number>();
    for (let s = 0; s < 20; s++) for (let i = 0; i < 1000; i++) seeds.add(mixSeed(s, i));
    assert.equal(seeds.size, 20_000);
  });
});
