/** The searchable columns of one batch, decoded once for all its entries. */
export interface BatchColumns {
  /** tenant_id as UTF-8 bytes (compared with the entry's bytes in place). */
  tenant: Buffer | null;
  /** The batch's patient_ids (empty when the column is NULL). */
  patients: Set<string>;
  /** first_at and last_at as epoch milliseconds. */
  firstMs: number | null;
  lastMs: number | null;
  /** The batch's agent_ids; null for a batch written before the column existed (migration 040). */
  agents: Set<string> | null;
  /** The batch's entity_ids; null for a batch written before the column existed (migration 041). */
  entities: Set<string> | null;
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
    patients: new Set(joinedPatients ? joinedPatients.split('\u001f') : []),
    firstMs,
    lastMs,
    agents: joinedSet(joinedAgents),
    entities: joinedSet(joinedEntities),
    failed: failed === null ? null : failed === 'true',
  };
}

function joinedSet(joined: string | null): Set<string> | null {
  return joined === null ? null : new Set(joined ? joined.split('\u001f') : []);
}

/**
 * Searches find entries through their batch's columns (tenant, patients,
 * agents, entities, failures, time window) before reading the signed bytes, so a narrowed column would
 * hide an access from a disclosure report without touching the signed bytes.
 * Each column must therefore cover every entry of its batch: same tenant,
 * every patient, agent and resource the entry names, recordedAt inside
 * [first_at, last_at].
 * (A wider column only costs a search some extra reading.) Returns what is
 * wrong, to be prefixed with the entry's place, or undefined.
 */
export function checkColumns(batch: BatchColumns, canonical: Buffer): string | undefined {
  const tenant = stringAfter(canonical, TENANT_KEY, 0);
  const recordedAt = stringAfter(canonical, RECORDED_AT_KEY, 0);
  if (canonical[0] !== OPEN_BRACE || !tenant || !recordedAt) return 'the entry bytes are not an audit entry';
  const differs: string[] = [];
  if (batch.tenant === null || !sameText(canonical, tenant, batch.tenant)) differs.push('tenant_id');
  const at = Date.parse(textOf(canonical, recordedAt));
  if (batch.firstMs === null || batch.firstMs > at) differs.push('first_at');
  if (batch.lastMs === null || batch.lastMs < at) differs.push('last_at');
  for (let patient = stringAfter(canonical, PATIENT_KEY, 0); patient; patient = stringAfter(canonical, PATIENT_KEY, patient.end)) {
    if (!batch.patients.has(textOf(canonical, patient))) {
      differs.push('patient_ids');
      break;
    }
  }
  if (batch.agents !== null) {
    for (const key of AGENT_KEYS) {
      const agent = stringAfter(canonical, key, 0);
      if (agent && !batch.agents.has(textOf(canonical, agent))) {
        differs.push('agent_ids');
        break;
      }
    }
  }
  if (batch.entities !== null && !coversEntities(batch.entities, canonical)) differs.push('entity_ids');
  // A cleared flag would hide the entry from searches for failed accesses (query.ts, outcome).
  if (batch.failed === false) {
    const outcome = stringAfter(canonical, OUTCOME_KEY, 0);
    if (!outcome || !sameText(canonical, outcome, SUCCESS)) differs.push('failed');
  }
  return differs.length > 0 ? `batch column ${differs.join(', ')} does not cover the signed entry (altered)` : undefined;
}

/*
 * Tenant, time and patients are read from the entry's canonical JSON bytes
 * without decoding or parsing all of it (the verifier's hot loop: a regex
 * pass over the decoded string cost ~1 µs per entry, more than its leaf
 * hash). Sound because the encoding is canonical: a quote inside a string
 * value is always escaped, and UTF-8 continuation bytes are never ASCII, so
 * `"tenant":"` found in the bytes is a real key; `tenant` and `recordedAt`
 * occur only at the top level and `patient` only in `resources` (entry.ts).
 * In format v2 that `patient` is the blind tag (sealed-entry.ts), which is
 * what the batch's patient_ids holds for the entry, so the same check needs
 * no key.
 */
const TENANT_KEY = Buffer.from('"tenant":"');
const RECORDED_AT_KEY = Buffer.from('"recordedAt":"');
const PATIENT_KEY = Buffer.from('"patient":"');
// `outcome` occurs only at the top level (entry.ts); `outcomeCode` is another key.
const OUTCOME_KEY = Buffer.from('"outcome":"');
const SUCCESS = Buffer.from('success');
// `subject` and `clientId` occur only in `who` (entry.ts), once each.
const AGENT_KEYS = [Buffer.from('"subject":"'), Buffer.from('"clientId":"')];
// `resources` occurs only at the top level; its objects are flat (strings and numbers), each read
// key by key (`id` also names the entry itself, so keys are not searched for).
const RESOURCES_KEY = Buffer.from('"resources":[');
const ENTITY = Buffer.from('entity');
const ID = Buffer.from('id');
const TYPE = Buffer.from('type');
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;

/**
 * Whether the column holds every resource the entry names as the insert path
 * puts it there (insert.ts entityOf): the `entity` tag of a v2 resource, else
 * `Type/id`; a resource without either names nothing. One pass over the
 * resources array, key by key: searching each object for its keys cost more
 * than the rest of the column check.
 */
function coversEntities(entities: Set<string>, bytes: Buffer): boolean {
  const at = bytes.indexOf(RESOURCES_KEY);
  if (at === -1) return true;
  let i = at + RESOURCES_KEY.length;
  while (bytes[i] === OPEN_BRACE) {
    let id: StringSpan | undefined;
    let type: StringSpan | undefined;
    let entity: StringSpan | undefined;
    i++;
    while (bytes[i] === QUOTE) {
      const key = stringFrom(bytes, i + 1);
      if (!key || bytes[key.end + 1] !== COLON) return false;
      i = key.end + 2;
      if (bytes[i] === QUOTE) {
        const value = stringFrom(bytes, i + 1);
        if (!value) return false;
        i = value.end + 1;
        if (isKey(bytes, key, ENTITY)) entity = value;
        else if (isKey(bytes, key, ID)) id = value;
        else if (isKey(bytes, key, TYPE)) type = value;
      } else {
        while (i < bytes.length && bytes[i] !== COMMA && bytes[i] !== CLOSE_BRACE) i++; // a number
      }
      if (bytes[i] === COMMA) i++;
    }
    if (bytes[i] !== CLOSE_BRACE) return false; // not an entry the insert path wrote
    i++;
    if (entity) {
      if (!entities.has(textOf(bytes, entity))) return false;
    } else if (id && (!type || !entities.has(`${textOf(bytes, type)}/${textOf(bytes, id)}`))) return false;
    if (bytes[i] === COMMA) i++;
  }
  return bytes[i] === CLOSE_BRACKET;
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

/** The string value that follows the first `key` at or after `from`, or undefined. */
function stringAfter(bytes: Buffer, key: Buffer, from: number): StringSpan | undefined {
  const at = bytes.indexOf(key, from);
  return at === -1 ? undefined : stringFrom(bytes, at + key.length);
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

function textOf(bytes: Buffer, span: StringSpan): string {
  const body = bytes.toString('utf8', span.start, span.end);
  return span.escaped ? (JSON.parse(`"${body}"`) as string) : body;
}

function sameText(bytes: Buffer, span: StringSpan, text: Buffer): boolean {
  if (span.escaped) return Buffer.from(textOf(bytes, span), 'utf8').equals(text);
  return bytes.compare(text, 0, text.length, span.start, span.end) === 0;
}
