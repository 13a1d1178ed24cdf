import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { normalizeString } from '../../src/fhir/normalize.js';
import { taggerFor, type BlindTagger } from '../../src/crypto/blind-index.js';
import { BLIND_PREFIX_MAX, BLIND_PREFIX_MIN, blindCover, blindDomain, parseProtectedParams, type ProtectedParams } from '../../src/search/index.js';
import { createIndexWriter, type IndexedResource } from '../../src/store/index-writer.js';
import { layout } from '../../src/store/index-sql.js';
import { seededRandom } from '../support/random.js';

// The index writer builds rows directly and dedupes blind tags by scope then tag (issue 8). Its plan must
// stay byte for byte what the writer produced before: this file keeps that writer as the reference and
// compares the two on random resources (duplicates, groups, nulls, protected and covered parameters).

type Row = (string | null)[];
type Entry = [string, string, Row[]];

/** The index writer's rows as they were built before (spread columns, one joined key per row and per tag). */
function referenceRows(resources: IndexedResource[], tag: BlindTagger | null, policy: ProtectedParams): Map<string, Entry[]> {
  const columnsOf = (v: IndexValue): Row => {
    switch (v.type) {
      case 'string':
        return [normalizeString(v.value), v.value, null];
      case 'token':
        return [v.system, v.code, v.text === null ? null : normalizeString(v.text), null];
      case 'date':
        return [v.low ?? '-infinity', v.high ?? 'infinity'];
      case 'reference':
        return [v.targetType, v.targetId, v.url, v.version, v.identifierSystem, v.identifierValue, null];
      case 'number':
        return [v.value, v.low, v.high];
      case 'quantity':
        return [v.value, v.low, v.high, v.system, v.code, v.unit, v.canonValue ?? null, v.canonCode ?? null];
      case 'uri':
        return [v.value];
    }
  };
  const rowKey = (row: Row) => row.map((c) => (c === null ? 'N' : `V${c}\u0000`)).join('');
  type Blind = { type: string; param: string; group: number | undefined; columns: Row };
  const prefixes = (norm: string): string[] => {
    const chars = Array.from(norm);
    const out: string[] = [];
    let acc = '';
    for (let i = 0; i < chars.length && i < BLIND_PREFIX_MAX; i++) {
      acc += chars[i];
      if (i + 1 >= BLIND_PREFIX_MIN) out.push(acc);
    }
    if (chars.length > BLIND_PREFIX_MAX || chars.length < BLIND_PREFIX_MIN) out.push(norm);
    return out;
  };
  const blindRows = (resourceType: string, v: IndexValue, t: BlindTagger, seen: Set<string>): Blind[] | null => {
    if (v.type === 'reference') {
      if (v.identifierValue === null || !policy.isProtected(resourceType, 'identifier')) return null;
      const tg = t('code', `${v.param}:identifier`, v.identifierValue);
      return [{ type: 'reference', param: v.param, group: v.group, columns: [v.targetType, v.targetId, v.url, v.version, v.identifierSystem, null, tg] }];
    }
    if ((v.type !== 'string' && v.type !== 'token') || !policy.isProtected(resourceType, v.param)) return null;
    const out: Blind[] = [];
    const add = (system: string | null, tg: string | null) => {
      const key = `${v.param}\u0000${v.group ?? ''}\u0000${system ?? ''}\u0000${tg ?? ''}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ type: v.type, param: v.param, group: v.group, columns: v.type === 'token' ? [system, null, null, tg] : [null, null, tg] });
    };
    const domain = blindDomain(v.param);
    if (v.type === 'token') {
      add(v.system, v.code === null ? null : t('code', domain, v.code));
      return out;
    }
    add(null, t('exact', domain, v.value));
    for (const p of prefixes(normalizeString(v.value))) add(null, t('prefix', domain, p));
    return out;
  };
  const stringTag = (r: Blind) => (r.type === 'string' ? (r.columns[r.columns.length - 1] ?? undefined) : undefined);
  const dropCovered = (resourceType: string, rows: Blind[]): Blind[] => {
    const byParam = new Map<string, Set<string>>();
    for (const r of rows) {
      const tg = stringTag(r);
      if (tg === undefined) continue;
      if (!byParam.has(r.param)) byParam.set(r.param, new Set());
      byParam.get(r.param)!.add(tg);
    }
    return rows.filter((r) => {
      const tg = stringTag(r);
      return tg === undefined || !blindCover(resourceType, r.param).some((n) => byParam.get(n)?.has(tg) === true);
    });
  };
  const buckets = new Map<string, Entry[]>();
  for (const r of resources) {
    const seen = new Set<string>();
    const rows = new Set<string>();
    const mine = new Map<string, Entry>();
    const push = (type: string, row: Row, dedupe: boolean) => {
      if (dedupe) {
        const k = `${type}\u0000${rowKey(row)}`;
        if (rows.has(k)) return;
        rows.add(k);
      }
      let entry = mine.get(type);
      if (!entry) {
        mine.set(type, (entry = [r.resourceType, r.id, []]));
        if (!buckets.has(type)) buckets.set(type, []);
        buckets.get(type)!.push(entry);
      }
      entry[2].push(row);
    };
    const blinded: Blind[] = [];
    for (const v of r.values) {
      const b = tag ? blindRows(r.resourceType, v, tag, seen) : null;
      if (b) blinded.push(...b);
      else push(v.type, [v.param, ...columnsOf(v), v.group === undefined ? null : String(v.group)], true);
    }
    for (const b of dropCovered(r.resourceType, blinded)) push(b.type, [b.param, ...b.columns, b.group === undefined ? null : String(b.group)], b.type === 'reference');
  }
  return buckets;
}

/**
 * The patient-keyed token rows, from the values: each plaintext `code` token once per Patient a
 * reference value targets (blind or not: a blind reference keeps its target), Patients in id order.
 */
function referencePatientTokens(resources: IndexedResource[], tag: BlindTagger | null, policy: ProtectedParams): Entry[] {
  const out: Entry[] = [];
  for (const r of resources) {
    const links = new Map<string, Set<string>>();
    for (const v of r.values) {
      if (v.type !== 'reference' || v.targetType !== 'Patient' || v.targetId === null) continue;
      links.set(v.targetId, (links.get(v.targetId) ?? new Set()).add(v.param));
    }
    const patients = [...links.keys()].sort();
    const rows: Row[] = [];
    const seen = new Set<string>();
    for (const v of r.values) {
      if (v.type !== 'token' || v.param !== 'code' || v.code === null || (tag && policy.isProtected(r.resourceType, v.param))) continue;
      const key = JSON.stringify([v.system, v.code]);
      if (seen.has(key)) continue;
      seen.add(key);
      for (const p of patients) rows.push(['code', v.system, v.code, p, `{${[...links.get(p)!].sort().map((x) => `"${x}"`).join(',')}}`]);
    }
    if (rows.length > 0) out.push([r.resourceType, r.id, rows]);
  }
  return out;
}

function resources(seed: number): IndexedResource[] {
  const next = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const maybe = <T>(x: T): T | null => (next() < 0.3 ? null : x);
  // Few distinct texts, so values repeat within a resource (duplicate rows, shared prefixes and tags).
  const texts = ['Ann', 'Anna', 'Annabelle-Marie', 'O\'Brien', 'Zoë  Lee', 'Łukasz', 'a', 'ab', '"q"\\', '東京😀', 'SMITH', 'smith', '555-1234', 'x'.repeat(40)];
  const types = ['Patient', 'Practitioner', 'RelatedPerson', 'Observation', 'Encounter', 'Coverage'];
  const stringParams = ['name', 'family', 'given', 'phonetic', 'address', 'address-city', 'address-postalcode', 'telecom', 'description'];
  const tokenParams = ['identifier', 'phone', 'email', 'code', 'subscriber-id', 'identifier:of-type', 'status'];
  const out: IndexedResource[] = [];
  for (let i = 0; i < 40; i++) {
    const values: IndexValue[] = [];
    const n = Math.floor(next() * 40);
    for (let j = 0; j < n; j++) {
      const group = next() < 0.2 ? Math.floor(next() * 3) : undefined;
      const g = group === undefined ? {} : { group };
      const k = Math.floor(next() * 7);
      if (k <= 1) values.push({ type: 'string', param: pick(stringParams), value: pick(texts), ...g });
      else if (k === 2) values.push({ type: 'token', param: pick(tokenParams), system: maybe(pick(['urn:a', 'http://loinc.org', ''])), code: maybe(pick(texts)), text: maybe(pick(texts)), ...g });
      else if (k === 3) values.push({ type: 'date', param: 'date', low: maybe('2020-01-01T00:00:00.000Z'), high: maybe('2020-01-01T23:59:59.999Z'), ...g });
      else if (k === 4)
        values.push({ type: 'reference', param: pick(['subject', 'patient', 'general-practitioner']), targetType: maybe('Patient'), targetId: maybe(pick(['p1', 'p2'])), url: maybe('http://x/Patient/p1'), version: maybe('2'), identifierSystem: maybe('urn:mrn'), identifierValue: maybe(pick(['m1', 'm2'])), ...g });
      else if (k === 5) values.push({ type: pick(['number', 'quantity'] as const), param: 'value-quantity', value: '1.5', low: '1.45', high: '1.55', system: maybe('http://unitsofmeasure.org'), code: maybe('mg'), unit: maybe('mg'), ...g } as IndexValue);
      else values.push({ type: 'uri', param: 'url', value: pick(['http://a', 'http://b']), ...g });
    }
    out.push({ resourceType: pick(types), id: `r${i % 30}`, values });
  }
  return out;
}

test('plan gives the rows of the reference writer, with and without blind indexes', async () => {
  const key = Buffer.alloc(32, 3);
  const policy = parseProtectedParams('default');
  const plain = createIndexWriter({ normalize: normalizeString });
  const blind = createIndexWriter({ normalize: normalizeString, blind: { policy, normalize: normalizeString, indexer: { withTagger: async (_t, use) => use(taggerFor(key)) } } });
  let rows = 0;
  let keyedRows = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const batch = resources(seed);
    for (const [writer, tag] of [[plain, null], [blind, taggerFor(key)]] as const) {
      const want = referenceRows(batch, tag, policy);
      const expected: unknown[] = ['t1'];
      for (const type of Object.keys(layout)) {
        const entries = want.get(type);
        if (entries) {
          expected.push(JSON.stringify(entries));
          for (const e of entries) rows += e[2].length;
        }
      }
      const keyed = referencePatientTokens(batch, tag, policy);
      if (keyed.length > 0) expected.push(JSON.stringify(keyed));
      keyedRows += keyed.reduce((n, e) => n + e[2].length, 0);
      const got = await writer.plan('t1', batch, []);
      assert.deepEqual(got.params, expected, `seed ${seed}${tag ? ', blind' : ''}`);
    }
  }
  assert.ok(rows > 20_000, `too few rows compared (${rows})`);
  assert.ok(keyedRows > 200, `too few patient-keyed rows compared (${keyedRows})`);
});
