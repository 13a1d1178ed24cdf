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

function iso(ms: number): string | null {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Inclusive range of a date, dateTime or instant string; null when malformed. */
export function dateRange(value: string): DateRange | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]) - 1;
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month === undefined) return { low: iso(Date.UTC(year, 0, 1)), high: iso(Date.UTC(year + 1, 0, 1) - 1) };
  if (month > 11) return null;
  if (day === undefined) return { low: iso(Date.UTC(year, month, 1)), high: iso(Date.UTC(year, month + 1, 1) - 1) };
  if (day < 1 || day > new Date(Date.UTC(year, month + 1, 0)).getUTCDate()) return null;
  if (m[4] === undefined) return { low: iso(Date.UTC(year, month, day)), high: iso(Date.UTC(year, month, day + 1) - 1) };
  return timeRange(year, month, day, m);
}

function timeRange(year: number, month: number, day: number, m: RegExpExecArray): DateRange | null {
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? undefined : Number(m[6]);
  if (hour > 23 || minute > 59 || (second !== undefined && second > 59)) return null;
  const fraction = m[7] ?? '';
  const base = Date.UTC(year, month, day, hour, minute, second ?? 0) - offsetMinutes(m[8]) * 60_000;
  if (second === undefined) return { low: iso(base), high: iso(base + 60_000 - 1) };
  const digits = Math.min(fraction.length, 3);
  const ms = digits === 0 ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  // Precision beyond ms is truncated; the span is what the written digits cover.
  const span = digits === 0 ? 1000 : 10 ** (3 - digits);
  return { low: iso(base + ms), high: iso(base + ms + span - 1) };
}

/** A Period: start's low to end's high; a missing end is open (null). */
export function periodRange(start: unknown, end: unknown): DateRange | null {
  const s = typeof start === 'string' ? dateRange(start) : null;
  const e = typeof end === 'string' ? dateRange(end) : null;
  if (!s && !e) return null;
  return { low: s?.low ?? null, high: e?.high ?? null };
}
