/**
 * SMART App Launch 2 `fhirContext`: the launch context beyond the patient and
 * encounter, returned with the token as an array of objects. Each object names
 * one resource by `reference` (relative, `Type/id`), `canonical` or
 * `identifier`, optionally with its `type` and a `role` (absent means
 * "launch"). Patient and Encounter have their own `patient`/`encounter`
 * parameters: they appear here only with a role other than launch.
 * Checked once, when the EHR registers the launch, so a token never carries
 * a malformed one.
 */
export interface FhirContextItem {
  reference?: string;
  canonical?: string;
  identifier?: { system?: string; value: string };
  type?: string;
  role?: string;
}

const MAX_ITEMS = 20;
const KEYS = new Set(['reference', 'canonical', 'identifier', 'type', 'role']);
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const ABSOLUTE_URI = /^(https?:\/\/|urn:)[^\s|]{1,1000}$/;
const CANONICAL = /^https?:\/\/[^\s|]{1,1000}(\|[^\s|]{1,64})?$/;

export class FhirContextError extends TypeError {}

const fail = (index: number, message: string): never => {
  throw new FhirContextError(`fhirContext[${index}]: ${message}`);
};

function checkIdentifier(value: unknown, i: number): FhirContextItem['identifier'] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return fail(i, 'identifier must be an object');
  const { system, value: v, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) fail(i, 'identifier may have only system and value');
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) fail(i, 'identifier.value must be a non-empty string');
  if (system !== undefined && (typeof system !== 'string' || !ABSOLUTE_URI.test(system))) fail(i, 'identifier.system must be an absolute URI');
  return { ...(system !== undefined ? { system: system as string } : {}), value: v as string };
}

function checkItem(raw: unknown, i: number): FhirContextItem {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail(i, 'must be an object');
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) fail(i, `unknown member ${unknown.join(', ')}`);
  for (const k of ['reference', 'canonical', 'type', 'role']) if (o[k] !== undefined && typeof o[k] !== 'string') fail(i, `${k} must be a string`);
  const { reference, canonical, type, role } = o as Record<string, string | undefined>;
  if (reference === undefined && canonical === undefined && o['identifier'] === undefined) fail(i, 'needs a reference, canonical or identifier');
  const [refType, refId, extra] = reference?.split('/') ?? [];
  if (reference !== undefined && (extra !== undefined || !TYPE.test(refType ?? '') || !ID.test(refId ?? ''))) fail(i, 'reference must be a relative reference Type/id');
  if (canonical !== undefined && !CANONICAL.test(canonical)) fail(i, 'canonical must be an absolute URL, optionally with |version');
  if (type !== undefined && !TYPE.test(type)) fail(i, 'type must be a resource type');
  if (type !== undefined && refType !== undefined && type !== refType) fail(i, 'type differs from the type of reference');
  if (role !== undefined && role !== 'launch' && !ABSOLUTE_URI.test(role)) fail(i, 'role must be "launch" or an absolute URI');
  const resourceType = refType ?? type;
  if ((resourceType === 'Patient' || resourceType === 'Encounter') && (role === undefined || role === 'launch')) {
    fail(i, `${resourceType} in launch context goes in the ${resourceType.toLowerCase()} parameter; here only with another role`);
  }
  const identifier = o['identifier'] === undefined ? undefined : checkIdentifier(o['identifier'], i);
  return { ...(reference ? { reference } : {}), ...(canonical ? { canonical } : {}), ...(identifier ? { identifier } : {}), ...(type ? { type } : {}), ...(role ? { role } : {}) };
}

/** The validated, normalised array (unknown members refused, not dropped). */
export function parseFhirContext(value: unknown): FhirContextItem[] {
  if (!Array.isArray(value)) throw new FhirContextError('fhirContext must be an array of objects');
  if (value.length > MAX_ITEMS) throw new FhirContextError(`fhirContext has more than ${MAX_ITEMS} items`);
  return value.map(checkItem);
}
