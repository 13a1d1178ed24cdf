import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalFast, canonicalJson, compileShape, orderedCopy, type CanonicalValue } from '../../src/audit/canonical.js';
import { entryOf, toRow } from '../../src/audit/entry.js';
import { leafHash } from '../../src/audit/merkle.js';
import { redactedEntry, type StoredEntryJson } from '../../src/audit/sealed-entry.js';
import { asTenantId } from '../../src/kernel/index.js';

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

test('canonicalFast writes the reference bytes for values that fit its shape and for those that do not', () => {
  const shape = compileShape({ b: 'string', a: 'number', n: { z: 'string', y: 'number' }, list: [{ k: 'string', j: 'number' }] });
  const value = generator(311);
  let next = 7;
  const coin = () => ((next = (next * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) < 0.5;
  // Mostly fitting values with a random member removed, set undefined, retyped or added; and arbitrary ones.
  const candidate = (): CanonicalValue | undefined => {
    const v: Record<string, CanonicalValue | undefined> = { b: 'é"\\', a: -0, n: { z: '\u2028', y: 1e21 }, list: [{ k: 'x', j: 3 }, { j: -1.5 }] };
    if (coin()) delete v['b'];
    if (coin()) v['a'] = undefined;
    if (coin()) (v['n'] as Record<string, CanonicalValue | undefined>)['extra'] = value(2);
    if (coin()) (v['list'] as CanonicalValue[]).push(value(2) as CanonicalValue);
    if (coin()) v[coin() ? 'b' : 'a'] = value(1);
    if (coin() && coin()) v['unknown'] = 'u';
    return coin() && coin() ? value(0) : v;
  };
  let fitted = 0;
  for (let i = 0; i < 5000; i++) {
    const v = candidate();
    if (v === undefined) continue;
    if (orderedCopy(v, shape) !== undefined) fitted++;
    let expected: string | Error;
    try {
      expected = reference(v);
    } catch (err) {
      expected = err as Error;
    }
    if (expected instanceof Error) assert.throws(() => canonicalFast(v, shape), TypeError);
    else assert.equal(canonicalFast(v, shape), expected, JSON.stringify(v));
  }
  assert.ok(fitted > 100, `the fast path was taken (${fitted} times)`);
  // NaN, a hole and an inherited member are not written natively (JSON.stringify would write null or skip them).
  assert.equal(orderedCopy({ a: Number.NaN }, shape), undefined);
  assert.equal(orderedCopy({ list: [, { k: 'x' }] }, shape), undefined);
  assert.equal(orderedCopy(Object.create({ b: 'inherited' }) as object, shape), undefined);
});

test('toRow: the canonical bytes of every entry form, and the leaf hash of exactly those bytes', () => {
  const ctx = {
    tenant: asTenantId('default'),
    requestId: 'req-1',
    sourceIp: '127.0.0.1',
    principal: { subject: 'client-1', clientId: 'client-1', kind: 'client' as const, scopes: [], onBehalfOf: 'Patient/p9' },
    audit: { action: 'operation' as const, operation: '$everything', resources: [], recorded: 0 } };
  const v1 = entryOf(ctx, 'n1', new Date(0), { action: 'read', outcome: 'failure', outcomeCode: 'X', status: 403, resources: [{ type: 'Patient', id: 'p1', version: 2, patient: 'Patient/p1' }, { type: 'Observation' }] });
  const sealed = { ...v1, v: 2, who: { subject: 'bi:1', clientId: 'c', kind: 'client', tokenId: 't' }, where: { node: 'n1' }, resources: [{ type: 'Patient', entity: 'bi:2', patient: 'bi:3' }], sealed: 'AAEC' };
  const withUndefined = { ...v1, why: undefined, who: { ...v1.who, onBehalfOf: undefined } };
  const withExtra = { ...v1, extra: { b: 1, a: 2 } } as unknown as typeof v1;
  for (const entry of [v1, sealed, redactedEntry(v1, true), withUndefined, withExtra] as StoredEntryJson[]) {
    const row = toRow(entry);
    assert.equal(row.canonical.toString('utf8'), reference(entry as unknown as CanonicalValue));
    assert.deepEqual(row.leaf, leafHash(row.canonical));
    assert.deepEqual(row.patients, [...new Set(entry.resources.flatMap((r) => (r.patient ? [r.patient] : [])))]);
  }
});
