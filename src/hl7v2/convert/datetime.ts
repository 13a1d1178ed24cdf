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
