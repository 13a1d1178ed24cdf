import { randomBytes } from 'node:crypto';

/**
 * Acknowledgments (HL7 v2 chapter 2, "ACK"). The ACK answers with the
 * original's encoding characters and version, swaps sender and receiver, gets
 * its own MSH-10 and names the original in MSA-2.
 *
 * The fields are read from the original's MSH text directly, not through the
 * parser, because a malformed message (AR) must be answered too.
 */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
export type AckCondition = 'AL' | 'NE' | 'ER' | 'SU';

export interface MshHeader {
  field: string;
  encoding: string;
  /** Raw (still escaped) field text by HL7 field number; MSH-1 and MSH-2 are not in here. */
  fields: string[];
}

const STANDARD: MshHeader = { field: '|', encoding: '^~\\&', fields: [] };

/**
 * The MSH of a message (first segment), or a standard header when there is none to read.
 * `segment` reads a batch's BHS or FHS the same way (their fields 1–6 are laid out as MSH's).
 */
export function sniffHeader(text: string, segment: 'MSH' | 'BHS' | 'FHS' = 'MSH'): MshHeader {
  const start = text.indexOf(segment);
  if (start < 0 || text.length < start + 8) return STANDARD;
  const field = text[start + 3]!;
  if (/[\w\r\n]/.test(field)) return STANDARD;
  const end = text.slice(start).search(/[\r\n]/);
  const line = end < 0 ? text.slice(start) : text.slice(start, start + end);
  const parts = line.split(field);
  const encoding = parts[1] ?? '';
  if (encoding.length < 4 || encoding.length > 5) return STANDARD;
  return { field, encoding, fields: parts };
}

/** MSH-n as raw text ('' when absent); n ≥ 3. */
export function mshField(h: MshHeader, n: number): string {
  return h.fields[n - 1] ?? '';
}

export function firstComponent(h: MshHeader, n: number): string {
  return mshField(h, n).split(h.encoding[0] ?? '^')[0] ?? '';
}

export interface AckModes {
  enhanced: boolean;
  accept: AckCondition;
  application: AckCondition;
}

const conditions = new Set(['AL', 'NE', 'ER', 'SU']);
const conditionOf = (v: string): AckCondition => (conditions.has(v) ? (v as AckCondition) : 'AL');

/** Original mode unless MSH-15 or MSH-16 is valued (chapter 2.9.3). */
export function ackModes(h: MshHeader): AckModes {
  const accept = firstComponent(h, 15).trim();
  const application = firstComponent(h, 16).trim();
  if (accept === '' && application === '') return { enhanced: false, accept: 'NE', application: 'AL' };
  return { enhanced: true, accept: conditionOf(accept), application: conditionOf(application) };
}

/** Whether a condition (AL/NE/ER/SU) asks for an acknowledgment with this outcome. */
export function wanted(condition: AckCondition, success: boolean): boolean {
  return condition === 'AL' || (condition === 'SU' && success) || (condition === 'ER' && !success);
}

/** HL7 table 0357 (message error condition codes) entries used here. */
export const errorConditions = {
  segmentSequence: ['100', 'Segment sequence error'],
  requiredField: ['101', 'Required field missing'],
  dataType: ['102', 'Data type error'],
  unsupportedType: ['200', 'Unsupported message type'],
  unsupportedVersion: ['203', 'Unsupported version id'],
  locked: ['206', 'Application record locked'],
  internal: ['207', 'Application internal error'],
} as const;
export type ErrorCondition = keyof typeof errorConditions;

export interface AckInput {
  original: MshHeader;
  code: AckCode;
  /** Reason for AE/AR/CE/CR; no PHI values. */
  text?: string;
  condition?: ErrorCondition;
  now: Date;
}

function escapeText(h: MshHeader, text: string): string {
  const [component = '^', repetition = '~', escape = '\\', sub = '&'] = [...h.encoding];
  const map = new Map([
    [escape, `${escape}E${escape}`],
    [h.field, `${escape}F${escape}`],
    [component, `${escape}S${escape}`],
    [repetition, `${escape}R${escape}`],
    [sub, `${escape}T${escape}`],
  ]);
  let out = '';
  for (const ch of text.replace(/[\r\n]+/g, ' ').slice(0, 400)) out += map.get(ch) ?? ch;
  return out;
}

export function hl7Timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

/** A fresh MSH-10 for the ACK: 16 characters, within every version's length limit. */
export function newControlId(): string {
  return `H${randomBytes(12).toString('base64url').slice(0, 15)}`;
}

/** The ACK message text, segments separated by CR. */
export function buildAck(input: AckInput): string {
  const h = input.original.fields.length > 0 ? input.original : { ...STANDARD, fields: [] };
  const f = h.field;
  const comp = h.encoding[0] ?? '^';
  const trigger = mshField(h, 9).split(comp)[1] ?? '';
  const version = mshField(h, 12) || '2.5';
  const msh = [
    'MSH',
    h.encoding,
    mshField(h, 5),
    mshField(h, 6),
    mshField(h, 3),
    mshField(h, 4),
    hl7Timestamp(input.now),
    '',
    ['ACK', trigger, 'ACK'].join(comp),
    newControlId(),
    mshField(h, 11) || 'P',
    version,
  ].join(f);
  const text = input.text ? escapeText(h, input.text) : '';
  // MSA-3 (text message) only when there is one: no trailing empty field.
  const msa = ['MSA', input.code, mshField(h, 10), ...(text ? [text] : [])].join(f);
  const segments = [msh, msa];
  if (input.code !== 'AA' && input.code !== 'CA') {
    const [code, name] = errorConditions[input.condition ?? 'internal'];
    const severity = 'E';
    segments.push(['ERR', '', '', [code, name, 'HL70357'].join(comp), severity, '', '', '', text].join(f));
  }
  return segments.join('\r');
}

/** MSA-1 of an ACK text (for clients and tests). */
export function ackCodeOf(ack: string): string | undefined {
  const h = sniffHeader(ack);
  const msa = ack.split(/\r\n|\r|\n/).find((s) => s.startsWith('MSA'));
  return msa?.split(h.field)[1];
}
