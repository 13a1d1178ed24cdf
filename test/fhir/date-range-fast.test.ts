import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dateRange, isoOf } from '../../src/fhir/date-range.js';
import { seededRandom } from '../support/random.js';

// isoOf and daysInMonth replace `new Date(ms).toISOString()` and a Date per day check (issue 8): both are
// compared here with the builtins they replace, on random and boundary input.


const builtin = (ms: number): string | null => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};

test('isoOf writes what toISOString writes', () => {
  const next = seededRandom(8);
  const yearZero = Date.parse('0000-01-01T00:00:00.000Z');
  const yearTenThousand = Date.parse('+010000-01-01T00:00:00.000Z');
  const cases: number[] = [0, -1, 1, yearZero, yearZero - 1, yearTenThousand, yearTenThousand - 1, NaN, Infinity, -Infinity, 8.64e15, 8.64e15 + 1, -8.64e15, 1.5, -0.5, 951_782_400_000];
  for (let i = 0; i < 200_000; i++) {
    // Whole span of 4-digit years and a little beyond, plus day and month edges.
    cases.push(Math.floor(yearZero - 1e11 + next() * (yearTenThousand - yearZero + 2e11)));
    cases.push(Date.UTC(Math.floor(next() * 10_000), Math.floor(next() * 12), 1) - (next() < 0.5 ? 1 : 0));
  }
  for (const ms of cases) assert.equal(isoOf(ms), builtin(ms), String(ms));
});

/** dateRange as it was before the fast paths, the reference the new one must match. */
const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
function referenceRange(value: string): { low: string | null; high: string | null } | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]) - 1;
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month === undefined) return { low: builtin(Date.UTC(year, 0, 1)), high: builtin(Date.UTC(year + 1, 0, 1) - 1) };
  if (month > 11) return null;
  if (day === undefined) return { low: builtin(Date.UTC(year, month, 1)), high: builtin(Date.UTC(year, month + 1, 1) - 1) };
  if (day < 1 || day > new Date(Date.UTC(year, month + 1, 0)).getUTCDate()) return null;
  if (m[4] === undefined) return { low: builtin(Date.UTC(year, month, day)), high: builtin(Date.UTC(year, month, day + 1) - 1) };
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? undefined : Number(m[6]);
  if (hour > 23 || minute > 59 || (second !== undefined && second > 59)) return null;
  const zone = m[8];
  const offset = !zone || zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const base = Date.UTC(year, month, day, hour, minute, second ?? 0) - offset * 60_000;
  if (second === undefined) return { low: builtin(base), high: builtin(base + 60_000 - 1) };
  const fraction = m[7] ?? '';
  const digits = Math.min(fraction.length, 3);
  const ms = digits === 0 ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  const span = digits === 0 ? 1000 : 10 ** (3 - digits);
  return { low: builtin(base + ms), high: builtin(base + ms + span - 1) };
}

test('dateRange matches the Date-based reference on varied values', () => {
  const next = seededRandom(29);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const two = (n: number) => String(n).padStart(2, '0');
  const years = ['0000', '0001', '0004', '0050', '0099', '0100', '0400', '1600', '1899', '1900', '1970', '2000', '2020', '2024', '2100', '9999'];
  const zones = ['', 'Z', '+00:00', '+14:00', '-12:00', '+05:30', '-00:01', '+23:59'];
  const values: string[] = ['', 'x', '2020-1', '20201', '2020-02-30', '2020-00', '2020-13', '2020-02-00', '2020-01-01T24:00', '2020-01-01T23:60', '2020-01-01T23:59:60'];
  for (let i = 0; i < 60_000; i++) {
    const y = next() < 0.5 ? pick(years) : String(Math.floor(next() * 10_000)).padStart(4, '0');
    const month = two(Math.floor(next() * 14));
    const day = two(Math.floor(next() * 33));
    const time = `${two(Math.floor(next() * 25))}:${two(Math.floor(next() * 61))}`;
    const seconds = next() < 0.5 ? '' : `:${two(Math.floor(next() * 61))}${next() < 0.5 ? '' : `.${String(Math.floor(next() * 1e6)).slice(0, 1 + Math.floor(next() * 6))}`}`;
    const shape = Math.floor(next() * 4);
    values.push(shape === 0 ? y : shape === 1 ? `${y}-${month}` : shape === 2 ? `${y}-${month}-${day}` : `${y}-${month}-${day}T${time}${seconds}${pick(zones)}`);
  }
  let valid = 0;
  for (const v of values) {
    const want = referenceRange(v);
    if (want) valid++;
    assert.deepEqual(dateRange(v), want, v);
  }
  assert.ok(valid > 20_000, `too few valid cases (${valid})`);
});
