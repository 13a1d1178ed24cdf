import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, type CanonicalValue } from '../../src/audit/canonical.js';

/** The definition the leaf hashes of every stored entry were computed with (the encoder before it was sped up). */
function reference(value: CanonicalValue | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => reference(v)).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(value[k])}`).join(',')}}`;
}

// A small deterministic generator (no Math.random: a failure must reproduce).
function generator(seed: number) {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const strings = ['', 'a', 'Patient/p1', 'é', '"q"', '\\', '\u0000', '\u2028', '😀', 'B', 'b', '_', '10', '9'];
  const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]!;
  const value = (depth: number): CanonicalValue | undefined => {
    const r = next();
    if (depth > 3 || r < 0.35) return pick<CanonicalValue | undefined>([null, true, false, 0, -1.5, 1e21, 42, pick(strings), undefined]);
    if (r < 0.6) {
      const arr = Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1)) as CanonicalValue[];
      if (next() < 0.1) arr.length += 2; // a sparse tail
      return arr;
    }
    const obj: Record<string, CanonicalValue | undefined> = {};
    for (let i = Math.floor(next() * 5); i > 0; i--) obj[pick(strings)] = value(depth + 1);
    return obj;
  };
  return value;
}

test('the canonical encoding is byte for byte the reference definition (sorted keys, undefined dropped, holes, escapes)', () => {
  const value = generator(20261129);
  for (let i = 0; i < 5000; i++) {
    const v = value(0);
    assert.equal(canonicalJson(v), reference(v), JSON.stringify(v));
  }
});

test('a stored entry shape keeps its exact canonical bytes', () => {
  const entry = {
    v: 2,
    id: '6f1c1c1e-0000-4000-8000-000000000001',
    tenant: 'default',
    recordedAt: '2026-11-29T14:00:00.000Z',
    action: 'read',
    outcome: 'success',
    status: 200,
    who: { subject: 'bootstrap-admin', clientId: 'bootstrap-admin', kind: 'system', onBehalfOf: undefined },
    where: { node: 'n1' },
    requestId: 'req-1',
    resources: [{ type: 'Patient', patient: 'bi:00', version: 3 }],
    sealed: 'AAEC',
  };
  assert.equal(
    canonicalJson(entry),
    '{"action":"read","id":"6f1c1c1e-0000-4000-8000-000000000001","outcome":"success","recordedAt":"2026-11-29T14:00:00.000Z","requestId":"req-1",' +
      '"resources":[{"patient":"bi:00","type":"Patient","version":3}],"sealed":"AAEC","status":200,"tenant":"default","v":2,' +
      '"where":{"node":"n1"},"who":{"clientId":"bootstrap-admin","kind":"system","subject":"bootstrap-admin"}}',
  );
});
