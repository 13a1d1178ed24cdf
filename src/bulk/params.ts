import { HavenError } from '../kernel/index.js';

/** Export level: `/$export`, `/Patient/$export`, `/Group/ID/$export`. */
export type ExportLevel = 'system' | 'patient' | 'group';

/** The kick-off parameters as the client gave them, before authorization narrows the types. */
export interface KickoffInput {
  level: ExportLevel;
  groupId?: string;
  types?: string[];
  since?: Date;
  typeFilters: string[];
  elements?: string[];
  patients?: string[];
  includeAssociatedData?: string[];
}

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
// FHIR instant: seconds required, time zone required.
const INSTANT = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;

function bad(code: string, message: string, param: string): HavenError {
  return new HavenError('incorrect', code, message, { expression: [param] });
}

export function parseInstant(value: string, param: string): Date {
  const d = new Date(value);
  if (!INSTANT.test(value) || Number.isNaN(d.getTime())) {
    throw bad('BULK_BAD_PARAMETER', `${param} must be a FHIR instant such as 2024-01-01T00:00:00Z`, param);
  }
  return d;
}

const list = (values: string[]) => values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

/**
 * Parameters from the query string (GET) or a Parameters resource (POST); the
 * same names either way. Unknown parameters are refused, as the spec allows,
 * so a typo never silently widens an export.
 */
export function parseKickoff(level: ExportLevel, groupId: string | undefined, pairs: [string, string][], options: { lenient?: boolean } = {}): KickoffInput {
  const by = new Map<string, string[]>();
  for (const [k, v] of pairs) by.set(k, [...(by.get(k) ?? []), v]);
  const known = new Set(['_type', '_since', '_typeFilter', '_outputFormat', '_elements', 'patient', 'includeAssociatedData']);
  for (const k of by.keys()) if (!known.has(k)) throw bad('BULK_BAD_PARAMETER', `Unknown $export parameter: ${k}`, k);
  for (const f of by.get('_outputFormat') ?? []) {
    if (!OUTPUT_FORMATS.has(f)) throw bad('BULK_BAD_PARAMETER', `_outputFormat ${f} is not supported; use application/fhir+ndjson`, '_outputFormat');
  }
  const since = by.get('_since');
  if (since && since.length > 1) throw bad('BULK_BAD_PARAMETER', '_since may be given once', '_since');
  const unsupported = list(by.get('includeAssociatedData') ?? []).filter((v) => !ASSOCIATED_DATA.has(v));
  if (unsupported.length > 0 && !options.lenient) throw associatedDataUnsupported(unsupported);
  // `_type=` (nothing listed) would otherwise read as "these types: none" and fail as a scope problem.
  for (const k of ['_type', '_elements'] as const) {
    if (by.has(k) && list(by.get(k)!).length === 0) throw bad('BULK_BAD_PARAMETER', `${k} is given but lists nothing; leave it out or name at least one`, k);
  }
  const patients = by.get('patient');
  if (patients && level === 'system') throw bad('BULK_BAD_PARAMETER', 'patient applies to Patient- and Group-level exports only', 'patient');
  return {
    level,
    ...(groupId ? { groupId } : {}),
    ...(by.has('_type') ? { types: list(by.get('_type')!) } : {}),
    ...(since?.[0] !== undefined ? { since: parseInstant(since[0], '_since') } : {}),
    typeFilters: by.get('_typeFilter') ?? [],
    ...(by.has('_elements') ? { elements: list(by.get('_elements')!) } : {}),
    ...(patients ? { patients: patients.map(patientId) } : {}),
    ...(by.has('includeAssociatedData') ? { includeAssociatedData: list(by.get('includeAssociatedData')!) } : {}),
  };
}

/** The includeAssociatedData values Haven implements (the Provenance of exported resources, docs/bulk.md). */
export const ASSOCIATED_DATA: ReadonlyMap<string, 'latest' | 'relevant'> = new Map([
  ['LatestProvenanceResources', 'latest'],
  ['RelevantProvenanceResources', 'relevant'],
]);

/**
 * Other includeAssociatedData values (`_custom` ones included) are not
 * supported. As the spec asks, that is an error the client can act on, unless
 * it sent Prefer: handling=lenient: then they are ignored with a warning in the
 * manifest's error file.
 */
function associatedDataUnsupported(values: string[]): HavenError {
  return bad(
    'BULK_BAD_PARAMETER',
    `includeAssociatedData ${values.join(', ')} is not supported (supported: ${[...ASSOCIATED_DATA.keys()].join(', ')}); leave it out, or send Prefer: handling=lenient to have it ignored`,
    'includeAssociatedData',
  );
}

function patientId(ref: string): string {
  const m = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  if (!m) throw bad('BULK_BAD_PARAMETER', 'patient must reference a Patient (Patient/ID)', 'patient');
  return m[1]!;
}

interface ParametersParam {
  name?: unknown;
  valueString?: unknown;
  valueInstant?: unknown;
  valueCode?: unknown;
  valueReference?: { reference?: unknown };
}

/** A POST kick-off body (a Parameters resource) as name/value pairs. */
export function parametersPairs(body: unknown): [string, string][] {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return [];
  const b = body as { resourceType?: unknown; parameter?: unknown };
  if (typeof body !== 'object' || b.resourceType !== 'Parameters') {
    throw new HavenError('incorrect', 'BULK_BAD_PARAMETER', 'A POST $export body must be a Parameters resource');
  }
  const out: [string, string][] = [];
  for (const p of (Array.isArray(b.parameter) ? b.parameter : []) as ParametersParam[]) {
    const value = p.valueReference?.reference ?? p.valueString ?? p.valueInstant ?? p.valueCode;
    if (typeof p.name !== 'string' || typeof value !== 'string') {
      throw new HavenError('incorrect', 'BULK_BAD_PARAMETER', 'Each Parameters.parameter needs a name and a string, instant, code or reference value');
    }
    out.push([p.name, value]);
  }
  return out;
}
