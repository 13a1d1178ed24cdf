/**
 * FHIR R4 primitive types: JSON type and lexical form (regexes from
 * https://hl7.org/fhir/R4/datatypes.html). The package's base64Binary regex
 * omits `/` (a known erratum), so the corrected form is used. The spec's
 * regexes use XML Schema semantics, where \s is only [ \t\n\r]: JavaScript's
 * \s also matches e.g. U+00A0, so the classes are spelled out (WS / NWS).
 */
const WS = '[ \\t\\n\\r]';
const NWS = '[^ \\t\\n\\r]';
const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const MONTH = '(0[1-9]|1[0-2])';
const DAY = '(0[1-9]|[1-2][0-9]|3[0-1])';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?';
const ZONE = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';

function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

const STRING_PATTERNS: Record<string, RegExp> = {
  string: /^[\s\S]+$/,
  markdown: /^[\s\S]+$/,
  uri: anchored(`${NWS}*`),
  url: anchored(`${NWS}*`),
  canonical: anchored(`${NWS}*`),
  code: anchored(`${NWS}+(${WS}${NWS}+)*`),
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  oid: /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  date: anchored(`${YEAR}(-${MONTH}(-${DAY})?)?`),
  dateTime: anchored(`${YEAR}(-${MONTH}(-${DAY}(T${TIME}${ZONE})?)?)?`),
  instant: anchored(`${YEAR}-${MONTH}-${DAY}T${TIME}${ZONE}`),
  time: anchored(TIME),
  xhtml: /^\s*<div[\s>][\s\S]*<\/div>\s*$/,
};

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

function checkNumber(type: string, value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a JSON number for ${type}`;
  if (type === 'decimal') return undefined;
  if (!Number.isInteger(value) || value > INT32_MAX || value < INT32_MIN) return `is not a valid ${type}`;
  if (type === 'positiveInt' && value < 1) return 'must be a positiveInt (≥ 1)';
  if (type === 'unsignedInt' && value < 0) return 'must be an unsignedInt (≥ 0)';
  return undefined;
}

const NUMERIC = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);

export const PRIMITIVE_TYPES = new Set([...Object.keys(STRING_PATTERNS), ...NUMERIC, 'boolean', 'base64Binary']);

export function isPrimitive(type: string): boolean {
  return PRIMITIVE_TYPES.has(type);
}

const UNSTORABLE = /[\u0000\uD800-\uDFFF]/u;

// Checked without the spec's regex, whose nested quantifiers backtrack badly on long invalid input.
function isBase64(value: string): boolean {
  const compact = value.replace(/[ \t\n\r]+/g, '');
  return compact.length > 0 && compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
}

/** Returns why `value` is not a valid `type`, or undefined when it is. */
export function checkPrimitive(type: string, value: unknown): string | undefined {
  if (type === 'boolean') return typeof value === 'boolean' ? undefined : 'must be a JSON boolean';
  if (NUMERIC.has(type)) return checkNumber(type, value);
  if (typeof value !== 'string') return `must be a JSON string for ${type}`;
  // U+0000 cannot be stored in PostgreSQL text (index values), and a lone surrogate is not Unicode:
  // it would come back as U+FFFD, not as what was sent.
  if (UNSTORABLE.test(value)) return value.includes('\u0000') ? 'contains the character U+0000 (NUL), which Haven cannot store' : 'contains an unpaired surrogate (not valid Unicode)';
  if (type === 'base64Binary') return isBase64(value) ? undefined : 'is not a valid base64Binary';
  const pattern = STRING_PATTERNS[type];
  if (pattern && !pattern.test(value)) return `is not a valid ${type}`;
  return undefined;
}
