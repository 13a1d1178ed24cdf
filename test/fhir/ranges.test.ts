import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dateRange, periodRange } from '../../src/fhir/date-range.js';
import { numberRange } from '../../src/fhir/number-range.js';
import { normalizeString } from '../../src/fhir/normalize.js';

test('date precision boundaries', () => {
  assert.deepEqual(dateRange('2020'), { low: '2020-01-01T00:00:00.000Z', high: '2020-12-31T23:59:59.999Z' });
  assert.deepEqual(dateRange('2020-03'), { low: '2020-03-01T00:00:00.000Z', high: '2020-03-31T23:59:59.999Z' });
  assert.deepEqual(dateRange('2020-02'), { low: '2020-02-01T00:00:00.000Z', high: '2020-02-29T23:59:59.999Z' });
  assert.deepEqual(dateRange('2021-02-28'), { low: '2021-02-28T00:00:00.000Z', high: '2021-02-28T23:59:59.999Z' });
  assert.deepEqual(dateRange('2020-12'), { low: '2020-12-01T00:00:00.000Z', high: '2020-12-31T23:59:59.999Z' });
  // No time zone: read as UTC.
  assert.deepEqual(dateRange('2020-03-05T10:20:30'), { low: '2020-03-05T10:20:30.000Z', high: '2020-03-05T10:20:30.999Z' });
  assert.deepEqual(dateRange('2020-03-05T10:20:30.5+02:00'), { low: '2020-03-05T08:20:30.500Z', high: '2020-03-05T08:20:30.599Z' });
  assert.deepEqual(dateRange('2020-03-05T10:20:30.123Z'), { low: '2020-03-05T10:20:30.123Z', high: '2020-03-05T10:20:30.123Z' });
  assert.deepEqual(dateRange('2020-01-01T00:30-01:00'), { low: '2020-01-01T01:30:00.000Z', high: '2020-01-01T01:30:59.999Z' });
  assert.equal(dateRange('2020-13'), null);
  assert.equal(dateRange('2021-02-29'), null);
  assert.equal(dateRange('not a date'), null);
});

test('period ranges: open ends are null', () => {
  assert.deepEqual(periodRange('2020-03', undefined), { low: '2020-03-01T00:00:00.000Z', high: null });
  assert.deepEqual(periodRange(undefined, '2020'), { low: null, high: '2020-12-31T23:59:59.999Z' });
  assert.equal(periodRange(undefined, undefined), null);
});

test('number implicit precision', () => {
  assert.deepEqual(numberRange('100'), { value: '100', low: '99.5', high: '100.5' });
  assert.deepEqual(numberRange('1.00'), { value: '1.00', low: '0.995', high: '1.005' });
  assert.deepEqual(numberRange('0.1'), { value: '0.1', low: '0.05', high: '0.15' });
  assert.deepEqual(numberRange('-5'), { value: '-5', low: '-5.5', high: '-4.5' });
  assert.deepEqual(numberRange('1e2'), { value: '100', low: '50', high: '150' });
  assert.deepEqual(numberRange(185), { value: '185', low: '184.5', high: '185.5' });
  assert.deepEqual(numberRange(1e-3), { value: '0.001', low: '0.0005', high: '0.0015' });
  assert.equal(numberRange('abc'), null);
  assert.equal(numberRange(Number.NaN), null);
});

test('string normalisation', () => {
  assert.equal(normalizeString('  José  Ñúñez\tMÜLLER '), 'jose nunez muller');
  assert.equal(normalizeString('Ångström'), 'angstrom');
  assert.equal(normalizeString('O\u0301scar'), 'oscar');
  assert.equal(normalizeString(''), '');
});
