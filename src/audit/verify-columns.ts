/** The searchable columns of one batch, decoded once for all its entries. */
export interface BatchColumns {
  /** tenant_id as UTF-8 bytes (compared with the entry's bytes in place). */
  tenant: Buffer | null;
  /** The batch's patient_ids (empty when the column is NULL). */
  patients: JoinedValues;
  /** first_at and last_at as epoch milliseconds. */
  firstMs: number | null;
  lastMs: number | null;
  /** The batch's agent_ids; null for a batch written before the column existed (migration 040). */
  agents: JoinedValues | null;
  /** The batch's entity_ids; null for a batch written before the column existed (migration 041). */
  entities: JoinedValues | null;
  /** The batch's failed flag; null for a batch written before the column existed (migration 045). */
  failed: boolean | null;
}

/** A batch's columns as the verifier's query returns them: patients, agents and entities joined with U+001F, `failed` as `true`/`false`. */
export function batchColumns(
  tenant: string | null,
  joinedPatients: string | null,
  firstMs: number | null,
  lastMs: number | null,
  joinedAgents: string | null = null,
  joinedEntities: string | null = null,
  failed: string | null = null,
): BatchColumns {
  return {
    tenant: tenant === null ? null : Buffer.from(tenant, 'utf8'),
    patients: new JoinedValues(joinedPatients ?? ''),
    firstMs,
    lastMs,
    agents: joinedAgents === null ? null : new JoinedValues(joinedAgents),
    entities: joinedEntities === null ? null : new JoinedValues(joinedEntities),
    failed: failed === null ? null : failed === 'true',
  };
}

const SEPARATOR = '\u001f';

/**
 * The elements of an array column as PostgreSQL joined them with U+001F,
 * asked one value at a time: found in the joined text between separators,
 * without splitting it into a Set first. The verifier decodes every batch's
 * columns; building three Sets cost ~10 µs per batch, more than all the
 * look-ups its entries make. An element holding U+001F itself reads as two
 * (as a split would), so a value holding it is never found.
 */
export class JoinedValues {
  constructor(private readonly joined: string) {}

  has(value: string): boolean {
    const { joined } = this;
    if (joined === '' || value.includes(SEPARATOR)) return false;
    // An empty element: at either end or between two separators (indexOf('') would not advance).
    if (value === '') return joined.startsWith(SEPARATOR) || joined.endsWith(SEPARATOR) || joined.includes(SEPARATOR + SEPARATOR);
    for (let at = joined.indexOf(value); at !== -1; at = joined.indexOf(value, at + 1)) {
      const end = at + value.length;
      if ((at === 0 || joined[at - 1] === SEPARATOR) && (end === joined.length || joined[end] === SEPARATOR)) return true;
    }
    return false;
  }
}

/**
 * Searches find entries through their batch's columns (tenant, patients,
 * agents, entities, failures, time window) before reading the signed bytes, so a narrowed column would
 * hide an access from a disclosure report without touching the signed bytes.
 * Each column must therefore cover every entry of its batch: same tenant,
 * every patient, agent and resource the entry names, recordedAt inside
 * [first_at, last_at], and a batch marked free of failures holds none.
 * (A wider column only costs a search some extra reading.) Returns what is
 * wrong, to be prefixed with the entry's place, or undefined.
 */
export function checkColumns(batch: BatchColumns, canonical: Buffer): string | undefined {
  const differs = new ColumnWalk(batch, canonical).differs();
  if (differs === NOT_AN_ENTRY) return 'the entry bytes are not an audit entry';
  if (differs === 0) return undefined;
  const names = COLUMNS.filter(([bit]) => (differs & bit) !== 0).map(([, name]) => name);
  return `batch column ${names.join(', ')} does not cover the signed entry (altered)`;
}

// Columns that differ, as bits of one number (no array per entry in the verifier's hot loop).
const TENANT_ID = 1;
const FIRST_AT = 2;
const LAST_AT = 4;
const PATIENT_IDS = 8;
const AGENT_IDS = 16;
const ENTITY_IDS = 32;
const FAILED = 64;
const NOT_AN_ENTRY = -1;
const COLUMNS: [number, string][] = [
  [TENANT_ID, 'tenant_id'],
  [FIRST_AT, 'first_at'],
  [LAST_AT, 'last_at'],
  [PATIENT_IDS, 'patient_ids'],
  [AGENT_IDS, 'agent_ids'],
  [ENTITY_IDS, 'entity_ids'],
  [FAILED, 'failed'],
];

/*
 * The entry's canonical JSON bytes are read in one pass over its top level,
 * without decoding them to a string or parsing them into objects: this runs
 * once per entry of the log. (Searching the bytes for each key with
 * Buffer.indexOf, as before, cost ~2 µs per entry in native calls, a third of
 * the whole check; a regex pass over the decoded string cost more than the
 * leaf hash.) The walk follows the entry's shape (entry.ts, sealed-entry.ts):
 * `tenant`, `recordedAt` and `outcome` are strings at the top level; `who` is
 * a flat object whose `subject` and `clientId` are agents; `resources` is an
 * array of flat objects whose `patient` (a reference in v1, the blind tag in
 * v2: what the batch's patient_ids holds either way), `entity`, `type` and
 * `id` give the batch columns. Other members are skipped whole, nested or not.
 * Bytes that do not parse as such an object are not an audit entry.
 */
class ColumnWalk {
  private i = 1;
  private found = 0;
  private bits = 0;
  private outcome: StringSpan | undefined;

  constructor(
    private readonly batch: BatchColumns,
    private readonly bytes: Buffer,
  ) {}

  differs(): number {
    const { bytes } = this;
    if (bytes[0] !== OPEN_BRACE) return NOT_AN_ENTRY;
    for (let key = this.member(true); key !== END; key = this.member(false)) {
      if (key === undefined || !this.topLevel(key)) return NOT_AN_ENTRY;
    }
    if (this.found !== (FOUND_TENANT | FOUND_RECORDED_AT)) return NOT_AN_ENTRY;
    // A cleared flag would hide the entry from searches for failed accesses (query.ts, outcome).
    if (this.batch.failed === false && (!this.outcome || !sameText(bytes, this.outcome, SUCCESS))) this.bits |= FAILED;
    return this.bits;
  }

  /**
   * One step through an object's members: the next key, with `i` moved to its
   * value; END with `i` after the object's `}`; undefined if the bytes are not
   * JSON there. `first`: `i` is just after the `{`, else just after a value.
   * (A loop over these steps rather than a callback per member: the walk
   * reached its fast code only after ~600,000 entries with callbacks.)
   */
  private member(first: boolean): StringSpan | typeof END | undefined {
    const { bytes } = this;
    if (bytes[this.i] === CLOSE_BRACE) {
      this.i++;
      return END;
    }
    if (!first) {
      if (bytes[this.i] !== COMMA) return undefined;
      this.i++;
    }
    const key = bytes[this.i] === QUOTE ? stringFrom(bytes, this.i + 1) : undefined;
    if (!key || bytes[key.end + 1] !== COLON) return undefined;
    this.i = key.end + 2;
    return key;
  }

  private topLevel(key: StringSpan): boolean {
    const { bytes, batch } = this;
    const first = bytes[this.i];
    if (first === QUOTE) {
      const value = this.string();
      if (!value) return false;
      if (isKey(bytes, key, TENANT)) {
        this.found |= FOUND_TENANT;
        if (batch.tenant === null || !sameText(bytes, value, batch.tenant)) this.bits |= TENANT_ID;
      } else if (isKey(bytes, key, RECORDED_AT)) {
        this.found |= FOUND_RECORDED_AT;
        const at = timeOf(bytes, value);
        if (batch.firstMs === null || batch.firstMs > at) this.bits |= FIRST_AT;
        if (batch.lastMs === null || batch.lastMs < at) this.bits |= LAST_AT;
      } else if (isKey(bytes, key, OUTCOME)) this.outcome = value;
      return true;
    }
    if (first === OPEN_BRACKET && isKey(bytes, key, RESOURCES)) return this.resources();
    if (first === OPEN_BRACE && isKey(bytes, key, WHO)) return this.who();
    this.i = skipValue(bytes, this.i);
    return this.i !== -1;
  }

  /** The who object, `i` at its `{`: flat; `subject` and `clientId` are agents. */
  private who(): boolean {
    const { bytes, batch } = this;
    this.i++;
    for (let key = this.member(true); key !== END; key = this.member(false)) {
      if (key === undefined) return false;
      const value = this.flatValue();
      if (value === undefined) return false;
      if (value === null) continue;
      if (batch.agents !== null && (isKey(bytes, key, SUBJECT) || isKey(bytes, key, CLIENT_ID)) && !batch.agents.has(textOf(bytes, value))) this.bits |= AGENT_IDS;
    }
    return true;
  }

  /** The resources array, `i` at its `[`: each a flat object, checked as the insert path fills the columns (insert.ts entityOf). */
  private resources(): boolean {
    const { bytes, batch } = this;
    this.i++;
    while (bytes[this.i] === OPEN_BRACE) {
      this.i++;
      let id: StringSpan | undefined;
      let type: StringSpan | undefined;
      let entity: StringSpan | undefined;
      for (let key = this.member(true); key !== END; key = this.member(false)) {
        if (key === undefined) return false;
        const value = this.flatValue();
        if (value === undefined) return false;
        if (value === null) continue;
        if (isKey(bytes, key, PATIENT)) {
          if (!batch.patients.has(textOf(bytes, value))) this.bits |= PATIENT_IDS;
        } else if (isKey(bytes, key, ENTITY)) entity = value;
        else if (isKey(bytes, key, ID)) id = value;
        else if (isKey(bytes, key, TYPE)) type = value;
      }
      const entities = batch.entities;
      if (entities !== null) {
        if (entity) {
          if (!entities.has(textOf(bytes, entity))) this.bits |= ENTITY_IDS;
        } else if (id && (!type || !entities.has(`${textOf(bytes, type)}/${textOf(bytes, id)}`))) this.bits |= ENTITY_IDS;
      }
      if (bytes[this.i] !== COMMA) break;
      this.i++;
      if (bytes[this.i] !== OPEN_BRACE) return false;
    }
    if (bytes[this.i] !== CLOSE_BRACKET) return false;
    this.i++;
    return true;
  }

  /** The string whose opening quote is at `i`; `i` then after its closing quote. */
  private string(): StringSpan | undefined {
    const span = stringFrom(this.bytes, this.i + 1);
    if (span) this.i = span.end + 1;
    return span;
  }

  /**
   * The value of a flat object's member at `i`, `i` then after it: a string's
   * span; null for a number, true, false or null (skipped); undefined for
   * anything else (a flat object holds nothing else).
   */
  private flatValue(): StringSpan | null | undefined {
    const { bytes } = this;
    const start = this.i;
    if (bytes[start] === QUOTE) return this.string();
    this.i = scalarEnd(bytes, start);
    return this.i > start && bytes[start] !== OPEN_BRACE && bytes[start] !== OPEN_BRACKET ? null : undefined;
  }
}

/** What {@link ColumnWalk.member} returns at the end of an object. */
const END = null;
const FOUND_TENANT = 1;
const FOUND_RECORDED_AT = 2;

const TENANT = Buffer.from('tenant');
const RECORDED_AT = Buffer.from('recordedAt');
const OUTCOME = Buffer.from('outcome');
const RESOURCES = Buffer.from('resources');
const WHO = Buffer.from('who');
const SUBJECT = Buffer.from('subject');
const CLIENT_ID = Buffer.from('clientId');
const PATIENT = Buffer.from('patient');
const ENTITY = Buffer.from('entity');
const ID = Buffer.from('id');
const TYPE = Buffer.from('type');
const SUCCESS = Buffer.from('success');
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;

/** The index just after the JSON value at `i` (strings, objects and arrays nested to any depth), or -1 if it does not end. */
function skipValue(bytes: Buffer, i: number): number {
  const first = bytes[i];
  if (first === QUOTE) return stringEndAfter(bytes, i + 1);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    const end = scalarEnd(bytes, i);
    return end > i ? end : -1;
  }
  let depth = 0;
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      i = stringEndAfter(bytes, i + 1) - 1;
      if (i < 0) return -1;
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
    else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && --depth === 0) return i + 1;
  }
  return -1;
}

/** The end of a number or literal at `i`: the next `,`, `}` or `]` (or the end of the bytes). */
function scalarEnd(bytes: Buffer, i: number): number {
  while (i < bytes.length && bytes[i] !== COMMA && bytes[i] !== CLOSE_BRACE && bytes[i] !== CLOSE_BRACKET) i++;
  return i;
}

/**
 * recordedAt as epoch ms: read from its digits when it is what toISOString
 * writes (`YYYY-MM-DDTHH:mm:ss.sssZ`, a real date), else by Date.parse, which
 * gives the same number for those (decoding and parsing the text was ~0.2 µs
 * per entry).
 */
function timeOf(bytes: Buffer, span: StringSpan): number {
  const s = span.start;
  if (span.end - s === 24 && bytes[s + 4] === DASH && bytes[s + 7] === DASH && bytes[s + 10] === LETTER_T && bytes[s + 13] === COLON && bytes[s + 16] === COLON && bytes[s + 19] === DOT && bytes[s + 23] === LETTER_Z) {
    const year = digits(bytes, s, 4);
    const month = digits(bytes, s + 5, 2);
    const day = digits(bytes, s + 8, 2);
    const hour = digits(bytes, s + 11, 2);
    const minute = digits(bytes, s + 14, 2);
    const second = digits(bytes, s + 17, 2);
    const ms = digits(bytes, s + 20, 3);
    // Years below 100 would be read as 19xx by Date.UTC; the rest is a date Date.parse takes as it stands (no roll-over).
    if (year >= 100 && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month) && hour <= 23 && minute <= 59 && second <= 59 && ms >= 0) {
      return Date.UTC(year, month - 1, day, hour, minute, second, ms);
    }
  }
  return Date.parse(textOf(bytes, span));
}

const DASH = 0x2d;
const DOT = 0x2e;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;
const DIGIT_0 = 0x30;

/** The decimal number of `length` digits at `at`, or -1 if any is not a digit. */
function digits(bytes: Buffer, at: number, length: number): number {
  let n = 0;
  for (let k = at; k < at + length; k++) {
    const d = bytes[k]! - DIGIT_0;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function daysIn(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

function isKey(bytes: Buffer, span: StringSpan, name: Buffer): boolean {
  if (span.end - span.start !== name.length || span.escaped) return false;
  for (let k = 0; k < name.length; k++) if (bytes[span.start + k] !== name[k]) return false;
  return true;
}

/** A JSON string's body in the bytes: [start, end), and whether it holds escapes. */
interface StringSpan {
  start: number;
  end: number;
  escaped: boolean;
}

/** The string whose body starts at `start` (just after its opening quote), or undefined if unterminated. */
function stringFrom(bytes: Buffer, start: number): StringSpan | undefined {
  let escaped = false;
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) return { start, end: i, escaped };
    if (b === BACKSLASH) {
      escaped = true;
      i++; // the escaped character, a quote included, belongs to the body
    }
  }
  return undefined;
}

/** The index just after the closing quote of the string whose body starts at `start`, or -1 if unterminated. */
function stringEndAfter(bytes: Buffer, start: number): number {
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) return i + 1;
    if (b === BACKSLASH) i++;
  }
  return -1;
}

function textOf(bytes: Buffer, span: StringSpan): string {
  const body = bytes.toString('utf8', span.start, span.end);
  return span.escaped ? (JSON.parse(`"${body}"`) as string) : body;
}

function sameText(bytes: Buffer, span: StringSpan, text: Buffer): boolean {
  if (span.escaped) return Buffer.from(textOf(bytes, span), 'utf8').equals(text);
  return bytes.compare(text, 0, text.length, span.start, span.end) === 0;
}
