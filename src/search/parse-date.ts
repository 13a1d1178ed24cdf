/**
 * FHIR date/dateTime/instant search values → the implicit instant range of
 * their precision, as a half-open range [low, end). A value without a time
 * zone is taken as UTC (a server-wide convention, documented; R4 leaves it to
 * the server). Half-open rather than inclusive so that microsecond timestamps
 * (resource.last_updated) fall on the right side of a boundary.
 */

const datePattern =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface InstantRange {
  low: string;
  end: string;
}

/** Date.UTC without its 0–99 → 1900–1999 year mapping (years 0001–0099 are valid FHIR). */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month, 0)).getUTCDate();
}

function offsetMinutes(zone: string | undefined): number | null {
  if (zone === undefined || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 14 || minutes > 59) return null;
  return sign * (hours * 60 + minutes);
}

/** Returns null when `raw` is not a valid FHIR date, dateTime or instant. */
export function parseDateRange(raw: string): InstantRange | null {
  const m = datePattern.exec(raw);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (hour > 23 || minute > 59 || second > 59) return null;
  const offset = offsetMinutes(zone);
  if (offset === null) return null;
  // Fractions beyond milliseconds are truncated: the index holds ms precision.
  const msDigits = frac === undefined ? '' : frac.slice(0, 3);
  const ms = msDigits === '' ? 0 : Number(msDigits.padEnd(3, '0'));
  const start = utc(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
  const end = start + unitLength({ year, month, mo, d, h, s, msDigits });
  return { low: new Date(start).toISOString(), end: new Date(end).toISOString() };
}

interface Parts {
  year: number;
  month: number;
  mo: string | undefined;
  d: string | undefined;
  h: string | undefined;
  s: string | undefined;
  msDigits: string;
}

/** Length in ms of the value's precision unit (calendar-aware for years and months). */
function unitLength(p: Parts): number {
  if (p.msDigits !== '') return 10 ** (3 - p.msDigits.length);
  if (p.s !== undefined) return 1000;
  if (p.h !== undefined) return 60_000;
  if (p.d !== undefined) return 86_400_000;
  if (p.mo !== undefined) return daysInMonth(p.year, p.month) * 86_400_000;
  return utc(p.year + 1, 0, 1) - utc(p.year, 0, 1);
}
