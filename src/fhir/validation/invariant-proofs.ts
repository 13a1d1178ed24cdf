/**
 * Native proofs that a hot core invariant HOLDS on an element, so FHIRPath
 * need not run for it. FHIRPath evaluation of per-1 alone cost ~70 µs per
 * Period on the 2-core test machine, about a third of validating an HL7 v2
 * message's resources. A proof only ever answers "holds" in the plain cases
 * it recognizes (absent elements, same-precision dates); anything else,
 * every possible violation included, is left to FHIRPath, so the issues
 * reported stay FHIRPath's. Each proof is bound to the exact expression text
 * it was written for: a core package with a different expression falls back.
 */
type Node = Record<string, unknown>;

export interface InvariantProof {
  expression: string;
  holds(node: Node): boolean;
}

/** No value and no `_name` (extension-only primitive): FHIRPath's `name.empty()`. */
function absent(node: Node, name: string): boolean {
  return node[name] === undefined && node[`_${name}`] === undefined;
}

/** A non-empty primitive value: FHIRPath's `name.exists()` and `name.hasValue()`. */
function hasString(node: Node, name: string): boolean {
  const v = node[name];
  return typeof v === 'string' && v.length > 0;
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a choice element `name[x]` (its value or its `_` sibling) is present. */
function hasChoice(node: Node, name: string): boolean {
  const plain = name.length;
  for (const k of Object.keys(node)) {
    const at = k.startsWith('_') ? 1 : 0;
    if (k.startsWith(name, at) && k.length > plain + at) {
      const c = k.charCodeAt(plain + at);
      if (c >= 65 && c <= 90) return true; // valueQuantity, _valueString: an upper-case type suffix
    }
  }
  return false;
}

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d{1,3})?(Z|[+-](?:0\d|1[0-3]):[0-5]\d|14:00)$/;

/** A real calendar day (2020-02-30 is not: FHIRPath engines may roll it over). */
function realDay(y: string, m: string | undefined, d: string | undefined): boolean {
  const month = m === undefined ? 1 : Number(m);
  const day = d === undefined ? 1 : Number(d);
  if (month < 1 || month > 12 || day < 1) return false;
  return new Date(Date.UTC(Number(y), month, 0)).getUTCDate() >= day;
}

/**
 * `start <= end` is true for two dateTimes of the same precision: dates of
 * equal length compare as text, instants (seconds, same fraction digits,
 * with zone) as points in time. Mixed precisions, where FHIRPath may answer
 * empty, are not decided here.
 */
function startNotAfterEnd(start: string, end: string): boolean {
  const ds = DATE.exec(start);
  const de = DATE.exec(end);
  if (ds && de) return start.length === end.length && realDay(ds[1]!, ds[2], ds[3]) && realDay(de[1]!, de[2], de[3]) && start <= end;
  const is = INSTANT.exec(start);
  const ie = INSTANT.exec(end);
  if (!is || !ie || (is[7] ?? '').length !== (ie[7] ?? '').length) return false;
  if (!realDay(is[1]!, is[2], is[3]) || !realDay(ie[1]!, ie[2], ie[3])) return false;
  return Date.parse(start) <= Date.parse(end);
}

function codingIs(concept: unknown, system: string, codes: string[]): boolean | undefined {
  if (concept === undefined) return false;
  if (!isObject(concept)) return undefined;
  const coding = (concept as Node).coding;
  if (coding === undefined) return false;
  if (!Array.isArray(coding) || !coding.every(isObject)) return undefined;
  return coding.some((c: Node) => c.system === system && typeof c.code === 'string' && codes.includes(c.code));
}

const ALLERGY_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';
const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const CONDITION_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';

const codeNeedsSystem = (code: string): InvariantProof => ({
  expression: `${code}.empty() or system.exists()`,
  holds: (n) => absent(n, code) || hasString(n, 'system'),
});

/** By constraint key; `expression` must equal the definition's for the proof to be used. */
export const INVARIANT_PROOFS: Record<string, InvariantProof> = {
  'per-1': {
    expression: 'start.hasValue().not() or end.hasValue().not() or (start <= end)',
    holds: (n) => n.start === undefined || n.end === undefined || (hasString(n, 'start') && hasString(n, 'end') && startNotAfterEnd(n.start as string, n.end as string)),
  },
  'cpt-2': codeNeedsSystem('value'),
  'qty-3': codeNeedsSystem('code'),
  'obs-6': { expression: 'dataAbsentReason.empty() or value.empty()', holds: (n) => n.dataAbsentReason === undefined || !hasChoice(n, 'value') },
  'obs-7': {
    expression: 'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()',
    holds: (n) => !hasChoice(n, 'value') || n.component === undefined,
  },
  'con-4': {
    expression:
      "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()",
    holds: (n) => !hasChoice(n, 'abatement') || codingIs(n.clinicalStatus, CONDITION_CLINICAL, ['resolved', 'remission', 'inactive']) === true,
  },
  'con-5': {
    expression: "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()",
    holds: (n) => n.clinicalStatus === undefined || codingIs(n.verificationStatus, CONDITION_VERIFICATION, ['entered-in-error']) === false,
  },
  'ait-1': {
    expression: `verificationStatus.coding.where(system = '${ALLERGY_VERIFICATION}' and code = 'entered-in-error').exists() or clinicalStatus.exists()`,
    holds: (n) => isObject(n.clinicalStatus) && Object.keys(n.clinicalStatus as Node).length > 0,
  },
  'ait-2': {
    expression: `verificationStatus.coding.where(system = '${ALLERGY_VERIFICATION}' and code = 'entered-in-error').empty() or clinicalStatus.empty()`,
    holds: (n) => n.clinicalStatus === undefined || codingIs(n.verificationStatus, ALLERGY_VERIFICATION, ['entered-in-error']) === false,
  },
  'obs-3': {
    expression: 'low.exists() or high.exists() or text.exists()',
    holds: (n) => (isObject(n.low) && Object.keys(n.low as Node).length > 0) || (isObject(n.high) && Object.keys(n.high as Node).length > 0) || hasString(n, 'text'),
  },
  'sqty-1': { expression: 'comparator.empty()', holds: (n) => absent(n, 'comparator') },
  'prr-1': { expression: 'orderDetail.empty() or code.exists()', holds: (n) => n.orderDetail === undefined || (isObject(n.code) && Object.keys(n.code as Node).length > 0) },
};

/** The proof for a constraint, when one was written for exactly its expression. */
export function proofFor(key: string, expression: string): ((node: Node) => boolean) | undefined {
  const p = INVARIANT_PROOFS[key];
  return p !== undefined && p.expression === expression ? p.holds : undefined;
}
