import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkedTypes, parseSearch } from '../../src/search/index.js';
import type { SearchQuery, SearchValue } from '../../src/search/index.js';
import { isHavenError } from '../../src/kernel/index.js';
import { createTestRegistry } from './registry.js';

const registry = createTestRegistry();
const now = () => new Date('2026-01-01T00:00:00Z');

function parse(type: string, params: [string, string][], strict = false): SearchQuery {
  return parseSearch(type, params, registry, { strict, now });
}

function values(type: string, name: string, value: string): SearchValue[] {
  const q = parse(type, [[name, value]]);
  assert.equal(q.criteria.length, 1);
  return q.criteria[0]!.values;
}

function rejects(fn: () => unknown, code: string, expression?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isHavenError(err));
    assert.equal(err.code, code);
    if (expression) assert.deepEqual(err.issues[0]?.expression, [expression]);
    return true;
  });
}

test('defaults: count 20, offset 0, total none, no sort', () => {
  const q = parse('Patient', []);
  assert.deepEqual(q, { resourceType: 'Patient', criteria: [], sort: [], count: 20, offset: 0, total: 'none', unknown: [] });
});

test('string: default, :exact, :contains; normalized with diacritics removed', () => {
  const q = parse('Patient', [['family', 'Élan  Dü'], ['name:exact', 'Eve'], ['name:contains', 'VE']]);
  assert.deepEqual(q.criteria.map((c) => [c.param, c.kind, c.modifier]), [
    ['family', 'string', null],
    ['name', 'string', 'exact'],
    ['name', 'string', 'contains'],
  ]);
  assert.deepEqual(q.criteria[0]!.values, [{ kind: 'string', value: 'Élan  Dü', norm: 'elan du' }]);
  assert.deepEqual(q.criteria[2]!.values, [{ kind: 'string', value: 'VE', norm: 've' }]);
});

test('comma is OR, repetition is AND', () => {
  const q = parse('Patient', [['family', 'a,b'], ['family', 'c']]);
  assert.equal(q.criteria.length, 2);
  assert.deepEqual(q.criteria[0]!.values.map((v) => (v.kind === 'string' ? v.value : '')), ['a', 'b']);
});

test('escaping: \\, \\$ \\| \\\\ are literal and do not split', () => {
  assert.deepEqual(values('Patient', 'family', 'a\\,b,c\\$d\\\\'), [
    { kind: 'string', value: 'a,b', norm: 'a,b' },
    { kind: 'string', value: 'c$d\\', norm: 'c$d\\' },
  ]);
  assert.deepEqual(values('Patient', 'identifier', 'http://x\\|y|A\\,1'), [
    { kind: 'token', system: { match: 'equals', value: 'http://x|y' }, code: 'A,1' },
  ]);
  // An unknown escape keeps its backslash.
  assert.deepEqual(values('Patient', 'family', 'a\\b'), [{ kind: 'string', value: 'a\\b', norm: 'a\\b' }]);
});

test('token: system|code, |code, system|, code, :text, :not', () => {
  assert.deepEqual(values('Observation', 'code', 'http://loinc.org|1234-5,|x,http://s|,plain'), [
    { kind: 'token', system: { match: 'equals', value: 'http://loinc.org' }, code: '1234-5' },
    { kind: 'token', system: { match: 'none' }, code: 'x' },
    { kind: 'token', system: { match: 'equals', value: 'http://s' }, code: null },
    { kind: 'token', system: { match: 'any' }, code: 'plain' },
  ]);
  assert.deepEqual(values('Observation', 'code:text', 'Blood Préssure'), [{ kind: 'text', norm: 'blood pressure' }]);
  assert.equal(parse('Observation', [['status:not', 'final']]).criteria[0]!.modifier, 'not');
  rejects(() => parse('Observation', [['code', '|']]), 'SEARCH_INVALID_VALUE', 'code');
});

test('reference: Type/id, id, absolute URL, canonical version, :[Type]', () => {
  assert.deepEqual(values('Observation', 'subject', 'Patient/p1,p2,http://other.org/fhir/Patient/9,http://x.org/Q|2.0,Patient/p3/_history/4'), [
    { kind: 'reference', targetType: 'Patient', id: 'p1', url: null, version: null },
    { kind: 'reference', targetType: null, id: 'p2', url: null, version: null },
    { kind: 'reference', targetType: null, id: null, url: 'http://other.org/fhir/Patient/9', version: null },
    { kind: 'reference', targetType: null, id: null, url: 'http://x.org/Q', version: '2.0' },
    { kind: 'reference', targetType: 'Patient', id: 'p3', url: null, version: null },
  ]);
  const q = parse('Observation', [['subject:Group', 'g1']]);
  assert.equal(q.criteria[0]!.modifier, 'type');
  assert.deepEqual(q.criteria[0]!.values, [{ kind: 'reference', targetType: 'Group', id: 'g1', url: null, version: null }]);
  rejects(() => parse('Observation', [['subject:Organization', 'o1']]), 'SEARCH_UNSUPPORTED_MODIFIER', 'subject:Organization');
  rejects(() => parse('Observation', [['subject:Group', 'Patient/1']]), 'SEARCH_INVALID_VALUE', 'subject');
  rejects(() => parse('Observation', [['subject', 'bad id!']]), 'SEARCH_INVALID_VALUE', 'subject');
  rejects(() => parse('Observation', [['subject', 'Patient/1/x']]), 'SEARCH_INVALID_VALUE', 'subject');
});

test('date: every precision gives its implicit range; no zone is UTC; zones shift', () => {
  const range = (v: string) => {
    const [d] = values('Patient', 'birthdate', v);
    assert.ok(d && d.kind === 'date');
    return [d.prefix, d.low, d.end];
  };
  assert.deepEqual(range('2020'), ['eq', '2020-01-01T00:00:00.000Z', '2021-01-01T00:00:00.000Z']);
  assert.deepEqual(range('2020-02'), ['eq', '2020-02-01T00:00:00.000Z', '2020-03-01T00:00:00.000Z']);
  assert.deepEqual(range('2021-02'), ['eq', '2021-02-01T00:00:00.000Z', '2021-03-01T00:00:00.000Z']);
  assert.deepEqual(range('2020-03-04'), ['eq', '2020-03-04T00:00:00.000Z', '2020-03-05T00:00:00.000Z']);
  assert.deepEqual(range('2020-03-04T10:00'), ['eq', '2020-03-04T10:00:00.000Z', '2020-03-04T10:01:00.000Z']);
  assert.deepEqual(range('2020-03-04T10:00:05'), ['eq', '2020-03-04T10:00:05.000Z', '2020-03-04T10:00:06.000Z']);
  assert.deepEqual(range('2020-03-04T10:00:05.12'), ['eq', '2020-03-04T10:00:05.120Z', '2020-03-04T10:00:05.130Z']);
  assert.deepEqual(range('2020-03-04T10:00:05.123456Z'), ['eq', '2020-03-04T10:00:05.123Z', '2020-03-04T10:00:05.124Z']);
  assert.deepEqual(range('2020-03-04T10:00:00+02:00'), ['eq', '2020-03-04T08:00:00.000Z', '2020-03-04T08:00:01.000Z']);
  assert.deepEqual(range('2020-03-04T23:30-05:00'), ['eq', '2020-03-05T04:30:00.000Z', '2020-03-05T04:31:00.000Z']);
  assert.deepEqual(range('2020-12-31T23:59:59Z'), ['eq', '2020-12-31T23:59:59.000Z', '2021-01-01T00:00:00.000Z']);
  for (const bad of ['2020-13', '2021-02-29', '2020-01-01T24:00', '20', '2020-1-1', 'today', '2020-01-01T10:00+15:00']) {
    rejects(() => parse('Patient', [['birthdate', bad]]), 'SEARCH_INVALID_VALUE', 'birthdate');
  }
  assert.deepEqual(range('0050-02'), ['eq', '0050-02-01T00:00:00.000Z', '0050-03-01T00:00:00.000Z']);
  assert.deepEqual(range('2020-02-29'), ['eq', '2020-02-29T00:00:00.000Z', '2020-03-01T00:00:00.000Z']);
});

test('date: every prefix; ap widens by 10% of the distance to now (at least a day)', () => {
  for (const prefix of ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb']) {
    const [d] = values('Patient', 'birthdate', `${prefix}2020-03-04`);
    assert.ok(d && d.kind === 'date');
    assert.deepEqual([d.prefix, d.low, d.end], [prefix, '2020-03-04T00:00:00.000Z', '2020-03-05T00:00:00.000Z']);
  }
  const [ap] = values('Patient', 'birthdate', 'ap2016-01-01');
  assert.ok(ap && ap.kind === 'date');
  // now is 2026-01-01: gap 3653 days → slack 365.3 days.
  assert.equal(ap.low, new Date(Date.parse('2016-01-01T00:00:00Z') - 3653 * 86_400_000 * 0.1).toISOString());
  assert.equal(ap.end, new Date(Date.parse('2016-01-02T00:00:00Z') + 3653 * 86_400_000 * 0.1).toISOString());
  const [near] = values('Patient', 'birthdate', 'ap2026-01-01');
  assert.ok(near && near.kind === 'date');
  assert.deepEqual([near.low, near.end], ['2025-12-31T00:00:00.000Z', '2026-01-03T00:00:00.000Z']);
});

test('number: implicit precision range, exponent, every prefix', () => {
  const num = (v: string) => {
    const [n] = values('RiskAssessment', 'probability', v);
    assert.ok(n && n.kind === 'number');
    return [n.prefix, n.value, n.low, n.end];
  };
  assert.deepEqual(num('100'), ['eq', '100', '99.5', '100.5']);
  assert.deepEqual(num('100.00'), ['eq', '100.00', '99.995', '100.005']);
  assert.deepEqual(num('0.4'), ['eq', '0.4', '0.35', '0.45']);
  assert.deepEqual(num('-2'), ['eq', '-2', '-2.5', '-1.5']);
  assert.deepEqual(num('1e2'), ['eq', '100', '50', '150']);
  assert.deepEqual(num('1.5e-1'), ['eq', '0.15', '0.145', '0.155']);
  for (const prefix of ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']) assert.equal(num(`${prefix}5`)[0], prefix);
  for (const bad of ['abc', '1.2.3', 'gt', '', '1,']) {
    if (bad === '') continue;
    rejects(() => parse('RiskAssessment', [['probability', bad]]), 'SEARCH_INVALID_VALUE', 'probability');
  }
});

test('quantity: number|system|code, number||code, number', () => {
  assert.deepEqual(values('Observation', 'value-quantity', 'gt5.4|http://unitsofmeasure.org|mg,5||mg,7'), [
    {
      kind: 'quantity', prefix: 'gt', value: '5.4', low: '5.35', end: '5.45', system: 'http://unitsofmeasure.org', code: 'mg',
      // UCUM: the same amount in base units (grams), for canonical matching.
      canonical: { code: 'g', value: '0.0054', low: '0.00535', end: '0.00545' },
    },
    { kind: 'quantity', prefix: 'eq', value: '5', low: '4.5', end: '5.5', system: null, code: 'mg' },
    { kind: 'quantity', prefix: 'eq', value: '7', low: '6.5', end: '7.5', system: null, code: null },
  ]);
  rejects(() => parse('Observation', [['value-quantity', '5|http://u']]), 'SEARCH_INVALID_VALUE', 'value-quantity');
  rejects(() => parse('Observation', [['value-quantity', '5|http://u|']]), 'SEARCH_INVALID_VALUE', 'value-quantity');
});

test(':missing on every type; bad :missing value', () => {
  const q = parse('Observation', [['code:missing', 'true'], ['date:missing', 'false']]);
  assert.deepEqual(q.criteria.map((c) => c.values), [[{ kind: 'missing', missing: true }], [{ kind: 'missing', missing: false }]]);
  rejects(() => parse('Observation', [['code:missing', 'yes']]), 'SEARCH_INVALID_VALUE', 'code');
});

test('uri: equality, :below, :above', () => {
  const q = parse('Observation', [['_profile:below', 'http://x.org/a'], ['_profile', 'http://x.org/b']]);
  assert.deepEqual(q.criteria.map((c) => [c.kind, c.modifier]), [['uri', 'below'], ['uri', null]]);
});

test('unsupported modifiers are refused', () => {
  for (const [name, value] of [['family:text', 'x'], ['subject:below', 'x'], ['date:exact', '2020'], ['family:foo', 'x'], ['_id:exact', 'x'], ['family:identifier', 'a|b'], ['date:in', 'http://vs']] as const) {
    rejects(() => parse(name.startsWith('family') ? 'Patient' : 'Observation', [[name, value]]), 'SEARCH_UNSUPPORTED_MODIFIER');
  }
});

test('token :in/:not-in/:of-type and reference :identifier parse to their values', () => {
  assert.deepEqual(values('Observation', 'code:in', 'http://vs'), [{ kind: 'valueset', url: 'http://vs' }]);
  assert.deepEqual(values('Observation', 'subject:identifier', 'urn:mrn|M\|1'), [{ kind: 'identifier', system: 'urn:mrn', value: 'M|1' }]);
  const q = parse('Patient', [['identifier:of-type', 'http://t|MR|123']]);
  assert.deepEqual(q.criteria[0], {
    param: 'identifier:of-type', kind: 'token', modifier: null,
    values: [{ kind: 'token', system: { match: 'equals', value: 'http://t' }, code: 'MR|123' }],
  });
  rejects(() => parse('Patient', [['identifier:of-type', 'MR|123']]), 'SEARCH_INVALID_VALUE', 'identifier');
  assert.deepEqual(values('Observation', 'code:below', 'http://cs|chem'), [{ kind: 'subsumption', direction: 'below', system: 'http://cs', code: 'chem' }]);
  rejects(() => parse('Observation', [['code:above', 'chem']]), 'SEARCH_INVALID_VALUE', 'code');
});

test('chains and _has parse into nested criteria', () => {
  const inner = { param: 'name', kind: 'string', modifier: null, values: [{ kind: 'string', value: 'x', norm: 'x' }] };
  const chain = { param: 'subject', kind: 'chain', modifier: null, values: [], link: { targetType: 'Patient', inner } };
  // Only Patient among subject's targets has `name` in the test registry, so the untyped chain resolves.
  assert.deepEqual(parse('Observation', [['subject.name', 'x']]).criteria, [chain]);
  assert.deepEqual(parse('Observation', [['subject:Patient.name', 'x']]).criteria, [chain]);
  const has = parse('Patient', [['_has:Observation:patient:status', 'final']]).criteria[0];
  assert.equal(has?.kind, 'has');
  assert.deepEqual(has?.link?.targetType, 'Observation');
  assert.deepEqual(has?.link?.inner.param, 'status');
  rejects(() => parse('Patient', [['_has:Observation:code:status', 'x']]), 'SEARCH_UNSUPPORTED_PARAM', 'code');
  rejects(() => parse('Observation', [['subject:Organization.name', 'x']]), 'SEARCH_UNSUPPORTED_MODIFIER');
  rejects(() => parse('Observation', [['subject:Patient.nope', 'x']]), 'SEARCH_UNKNOWN_PARAM');
});

test('composites without resolvable components, special and unindexed parameters are refused', () => {
  // The hand-made registry has no byUrl, so composite components cannot be typed.
  rejects(() => parse('Observation', [['code-value-quantity', 'x$5']]), 'SEARCH_UNSUPPORTED_PARAM', 'code-value-quantity');
  rejects(() => parse('Observation', [['near', '1|2|3|km']]), 'SEARCH_UNSUPPORTED_PARAM', 'near');
  rejects(() => parse('Patient', [['_text', 'x']]), 'SEARCH_UNSUPPORTED_PARAM', '_text');
});

test('_id and _lastUpdated', () => {
  const q = parse('Patient', [['_id', 'a,b-1'], ['_lastUpdated', 'ge2020-01-01T00:00:00Z']]);
  assert.deepEqual(q.criteria[0], {
    param: '_id', kind: 'id', modifier: null,
    values: [{ kind: 'token', system: { match: 'any' }, code: 'a' }, { kind: 'token', system: { match: 'any' }, code: 'b-1' }],
  });
  assert.deepEqual(q.criteria[1]!.values, [{ kind: 'date', prefix: 'ge', low: '2020-01-01T00:00:00.000Z', end: '2020-01-01T00:00:01.000Z' }]);
  rejects(() => parse('Patient', [['_id', 'no way']]), 'SEARCH_INVALID_VALUE', '_id');
  rejects(() => parse('Patient', [['_lastUpdated', 'x']]), 'SEARCH_INVALID_VALUE', '_lastUpdated');
});

test('result parameters: _count (clamped), _offset, _sort, _total, _summary, _elements; _format ignored', () => {
  const q = parseSearch('Encounter', [['_count', '5000'], ['_offset', '40'], ['_sort', '-date,_id'], ['_sort', '_lastUpdated'], ['_total', 'accurate'], ['_summary', 'true'], ['_elements', 'id, period'], ['_format', 'json'], ['_pretty', 'true']], registry, { maxCount: 500 });
  assert.deepEqual(
    { count: q.count, offset: q.offset, sort: q.sort, total: q.total, summary: q.summary, elements: q.elements, unknown: q.unknown },
    {
      count: 500, offset: 40,
      sort: [{ param: 'date', kind: 'date', descending: true }, { param: '_id', kind: 'id', descending: false }, { param: '_lastUpdated', kind: 'lastUpdated', descending: false }],
      total: 'accurate', summary: 'true', elements: ['id', 'period'], unknown: [],
    },
  );
  assert.equal(parse('Patient', [['_summary', 'count']]).total, 'accurate');
  assert.equal(parseSearch('Patient', [], registry, { defaultCount: 7, defaultTotal: 'estimate' }).count, 7);
  for (const [name, value] of [['_count', '-1'], ['_count', 'x'], ['_offset', '1.5'], ['_total', 'some'], ['_summary', 'yes'], ['_sort', 'nope'], ['_sort', '-code-value-quantity']]) {
    rejects(() => parse('Observation', [[name!, value!]]), 'SEARCH_INVALID_VALUE', name);
  }
});

test('unknown parameters: collected when lenient, refused when strict; empty values ignored', () => {
  const q = parse('Patient', [['foo', '1'], ['family', ''], ['bar:exact', 'x']]);
  assert.deepEqual(q.unknown, ['foo', 'bar:exact']);
  assert.equal(q.criteria.length, 0);
  rejects(() => parse('Patient', [['foo', '1']], true), 'SEARCH_UNKNOWN_PARAM', 'foo');
});

test('error messages name the parameter, never the value', () => {
  assert.throws(() => parse('Patient', [['birthdate', 'SECRET-VALUE']]), (err: unknown) => {
    assert.ok(isHavenError(err));
    assert.match(err.message, /birthdate/);
    assert.doesNotMatch(err.message, /SECRET/);
    return true;
  });
});

test('linkedTypes lists the types chains, _has and _list read', () => {
  const q = parse('Patient', [['_has:Observation:patient:subject:Patient.name', 'x'], ['general-practitioner:Practitioner._id', 'd1'], ['family', 'x']]);
  assert.deepEqual(linkedTypes(q.criteria), ['Observation', 'Patient', 'Practitioner']);
  assert.deepEqual(linkedTypes(parse('Patient', [['family', 'x']]).criteria), []);
});
