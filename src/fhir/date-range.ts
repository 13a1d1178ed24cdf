/**
 * FHIR date search compares ranges: a stored `2020-03` covers the whole
 * month. Values are turned into inclusive UTC instants (ms precision).
 * A dateTime without a time zone is read as UTC: the server has no better
 * knowledge, and one fixed rule keeps index and query consistent.
 */
export interface DateRange {
  low: string | null;
  high: string | null;
}

const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function offsetMinutes(zone: string | undefined): number {
  if (!zone || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
}

/** The last ms of 9999-12-31 UTC: up to there `toISOString` writes a 4-digit year, which isoOf repeats. */
const FOUR_DIGIT_YEARS_END = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const DAY_MS = 86_400_000;
/** 0000-01-01T00:00:00.000Z (`Date.UTC` reads a year below 100 as 19xx). */
const YEAR_ZERO = -62_167_219_200_000;

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/**
 * `new Date(ms).toISOString()` for instants of years 0000 to 9999, computed
 * without a Date (the civil-from-days algorithm, H. Hinnant): every date
 * value extracted goes through here twice, and the builtin Date allocation
 * and formatting was ~15 % of search-value extraction of an HL7 v2 message.
 * Outside that span (or for NaN) it defers to `toISOString` itself.
 */
export function isoOf(ms: number): string | null {
  if (Number.isNaN(ms)) return null;
  if (ms < YEAR_ZERO || ms > FOUR_DIGIT_YEARS_END || !Number.isInteger(ms)) {
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  const y = year < 10 ? `000${year}` : year < 100 ? `00${year}` : year < 1000 ? `0${year}` : `${year}`;
  return `${y}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}.${pad3(milli)}Z`;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Days of month `month` (-1 to 11) as `new Date(Date.UTC(year, month + 1, 0)).getUTCDate()`
 * gives them, without a Date: `Date.UTC` reads years 0-99 as 1900-1999 (so
 * `0000-02-29` stays invalid, as before), and the rest by the Gregorian rule.
 */
function daysInMonth(year: number, month: number): number {
  // Month `00` (-1) is the December before, as Date.UTC reads it.
  if (month !== 1) return month < 0 ? 31 : MONTH_DAYS[month]!;
  const y = year >= 0 && year <= 99 ? 1900 + year : year;
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
}

/** Inclusive range of a date, dateTime or instant string; null when malformed. */
export function dateRange(value: string): DateRange | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]) - 1;
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month === undefined) return { low: isoOf(Date.UTC(year, 0, 1)), high: isoOf(Date.UTC(year + 1, 0, 1) - 1) };
  if (month > 11) return null;
  if (day === undefined) return { low: isoOf(Date.UTC(year, month, 1)), high: isoOf(Date.UTC(year, month + 1, 1) - 1) };
  if (day < 1 || day > daysInMonth(year, month)) return null;
  if (m[4] === undefined) return { low: isoOf(Date.UTC(year, month, day)), high: isoOf(Date.UTC(year, month, day + 1) - 1) };
  return timeRange(year, month, day, m);
}

function timeRange(year: number, month: number, day: number, m: RegExpExecArray): DateRange | null {
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? undefined : Number(m[6]);
  if (hour > 23 || minute > 59 || (second !== undefined && second > 59)) return null;
  const fraction = m[7] ?? '';
  const base = Date.UTC(year, month, day, hour, minute, second ?? 0) - offsetMinutes(m[8]) * 60_000;
  if (second === undefined) return { low: isoOf(base), high: isoOf(base + 60_000 - 1) };
  const digits = Math.min(fraction.length, 3);
  const ms = digits === 0 ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  // Precision beyond ms is truncated; the span is what the written digits cover.
  const span = digits === 0 ? 1000 : 10 ** (3 - digits);
  return { low: isoOf(base + ms), high: isoOf(base + ms + span - 1) };
}

/** A Period: start's low to end's high; a missing end is open (null). */
export function periodRange(start: unknown, end: unknown): DateRange | null {
  const s = typeof start === 'string' ? dateRange(start) : null;
  const e = typeof end === 'string' ? dateRange(end) : null;
  if (!s && !e) return null;
  return { low: s?.low ?? null, high: e?.high ?? null };
}
