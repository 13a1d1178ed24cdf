/**
 * HL7 v2 DT/TS/DTM → FHIR date, dateTime and instant, keeping the sender's
 * precision. FHIR demands a time zone whenever a time is given; HL7 lets the
 * sender omit it ("the sender's local time"), so the caller supplies the zone
 * to assume (MSH-7's, or the template settings'); without one the value is
 * cut back to its date rather than guessed.
 */

const TS = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?$/;

export interface ParsedTs {
  date: string;
  /** `hh:mm:ss[.f]` when the value carries a time. */
  time?: string;
  /** `+hh:mm` / `-hh:mm` when the value carries a zone. */
  zone?: string;
}

export function parseTs(text: string): ParsedTs | undefined {
  const m = TS.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (mo !== undefined && !inRange(mo, 1, 12)) return undefined;
  if (d !== undefined && !inRange(d, 1, 31)) return undefined;
  // mo and d are optional groups in sequence: d is set only when mo is.
  const date = mo === undefined ? y! : d === undefined ? `${y}-${mo}` : `${y}-${mo}-${d}`;
  const out: ParsedTs = { date };
  if (zone !== undefined) out.zone = zoneOf(zone);
  if (h === undefined || d === undefined) return out;
  if (!inRange(h, 0, 23) || (mi !== undefined && !inRange(mi, 0, 59)) || (s !== undefined && !inRange(s, 0, 60))) return undefined;
  out.time = `${h}:${mi ?? '00'}:${s ?? '00'}${frac !== undefined ? `.${frac}` : ''}`;
  return out;
}

function inRange(text: string, min: number, max: number): boolean {
  const n = Number(text);
  return n >= min && n <= max;
}

/** `+0215` → `+02:15`. */
export function zoneOf(hl7Zone: string): string {
  return `${hl7Zone.slice(0, 3)}:${hl7Zone.slice(3, 5)}`;
}

export type DateResult = { value: string; truncated: boolean } | undefined;

/** FHIR date (YYYY, YYYY-MM, YYYY-MM-DD). */
export function toFhirDate(text: string): string | undefined {
  return parseTs(text)?.date;
}

/** FHIR dateTime; a time without any known zone is truncated to the date. */
export function toFhirDateTime(text: string, defaultZone: string | undefined): DateResult {
  const p = parseTs(text);
  if (!p) return undefined;
  if (p.time === undefined) return { value: p.date, truncated: false };
  const zone = p.zone ?? defaultZone;
  if (zone === undefined) return { value: p.date, truncated: true };
  return { value: `${p.date}T${p.time}${zone}`, truncated: false };
}

/** FHIR instant: needs a full date, a time and a zone. */
export function toFhirInstant(text: string, defaultZone: string | undefined): string | undefined {
  const p = parseTs(text);
  const zone = p?.zone ?? defaultZone;
  if (p?.time === undefined || zone === undefined) return undefined;
  return `${p.date}T${p.time}${zone}`;
}

const INSTANT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;

/**
 * A FHIR instant moved by `seconds`, written in the instant's own zone and
 * precision (an end time reads like the start the sender gave). Undefined if
 * `instant` is not one or the sum falls outside the representable range.
 */
export function addSeconds(instant: string, seconds: number): string | undefined {
  const m = INSTANT.exec(instant);
  const at = Date.parse(instant);
  if (!m || Number.isNaN(at) || !Number.isFinite(seconds)) return undefined;
  const zone = m[3]!;
  const offsetMinutes = zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const local = new Date(at + seconds * 1000 + offsetMinutes * 60_000);
  if (Number.isNaN(local.getTime()) || local.getUTCFullYear() > 9999 || local.getUTCFullYear() < 1) return undefined;
  const iso = local.toISOString(); // the local wall time, written as if UTC
  const fraction = m[2] === undefined ? '' : iso.slice(19, 23);
  return `${iso.slice(0, 19)}${fraction}${zone}`;
}

/** Seconds per unit of a duration as HL7 senders write its unit (ISO+/ANSI/UCUM spellings). */
const SECONDS_PER_UNIT: Record<string, number> = {
  s: 1, sec: 1, second: 1, seconds: 1,
  min: 60, minute: 60, minutes: 60, mins: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86_400, day: 86_400, days: 86_400,
};

/** Seconds in one `unit` (case-insensitive); minutes when none is given; undefined when unknown. */
export function secondsPerUnit(unit: string | undefined): number | undefined {
  return unit === undefined ? 60 : SECONDS_PER_UNIT[unit.trim().toLowerCase()];
}
