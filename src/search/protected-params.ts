/**
 * Which search parameters are protected by blind indexes
 * (docs/security/encryption.md, "Blind indexes"): their values are stored only
 * as keyed HMAC tags, never as plaintext.
 *
 * The list (HAVEN_BLIND_INDEX_PARAMS) is comma-separated; each entry is
 * `Type.code` (one resource type) or `code` (that code on every type).
 * `default` stands for DEFAULT_PROTECTED; `none` alone protects nothing.
 * Example: `default,Practitioner.name,Organization.name`.
 */

const PEOPLE = ['Patient', 'Person', 'RelatedPerson'] as const;
const PERSON_CODES = [
  'name', 'family', 'given', 'phonetic', 'telecom', 'phone', 'email',
  'address', 'address-city', 'address-postalcode', 'address-state', 'address-country',
] as const;

/**
 * Names, telecom and address of people; identifiers of every resource type
 * (MRNs, SSNs, account and encounter numbers); a coverage's member id and a
 * device's UDI carrier (serial numbers): the HIPAA identifiers a search index holds.
 */
export const DEFAULT_PROTECTED: readonly string[] = [
  ...PEOPLE.flatMap((t) => PERSON_CODES.map((c) => `${t}.${c}`)),
  'identifier',
  'Coverage.subscriber-id',
  'Device.udi-carrier',
];

export interface ProtectedParams {
  /** Whether `code` on `resourceType` is blind-indexed; `identifier:of-type` follows `identifier`. */
  isProtected(resourceType: string, code: string): boolean;
  /** The expanded entries, for docs and logs (parameter names only). */
  entries(): readonly string[];
}

const ENTRY = /^(?:[A-Z][A-Za-z]+\.)?[a-z_][a-z0-9_-]*$/;

/** Splits and checks the setting; returns the entries that are not `Type.code` or `code`. */
export function invalidProtectedEntries(spec: string): string[] {
  const items = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 1 && items[0] === 'none') return [];
  return items.filter((s) => s !== 'default' && !ENTRY.test(s));
}

export function parseProtectedParams(spec: string): ProtectedParams {
  const items = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = invalidProtectedEntries(spec);
  if (bad.length > 0) throw new Error(`Invalid blind-index parameter entries: ${bad.join(', ')}`);
  const expanded = items.length === 1 && items[0] === 'none' ? [] : items.flatMap((s) => (s === 'default' ? DEFAULT_PROTECTED : [s]));
  const set = new Set(expanded);
  // Split by type once: asked for every index value of every resource written, without building `Type.code` each time.
  const everyType = new Set<string>();
  const byType = new Map<string, Set<string>>();
  for (const e of set) {
    const dot = e.indexOf('.');
    if (dot < 0) everyType.add(e);
    else {
      const type = e.slice(0, dot);
      let codes = byType.get(type);
      if (!codes) byType.set(type, (codes = new Set()));
      codes.add(e.slice(dot + 1));
    }
  }
  return {
    isProtected(resourceType, code) {
      // Composite components (`code$0`) are not protected; of-type rows carry `<identifier param>:of-type`.
      const base = code.endsWith(':of-type') ? code.slice(0, -':of-type'.length) : code;
      return everyType.has(base) || byType.get(resourceType)?.has(base) === true;
    },
    entries: () => [...set],
  };
}

const NAME_CODES = new Set(['name', 'family', 'given', 'phonetic']);
const TELECOM_CODES = new Set(['telecom', 'phone', 'email']);

/**
 * The HMAC domain of a parameter's tags. Parameters that index the same
 * strings share one (Patient `name` repeats `family` and `given`; `address`
 * repeats `address-city`…), so one write computes each tag once; different
 * kinds of data never share one, so a phone number and an identifier that
 * happen to be equal do not get equal tags.
 */
export function blindDomain(param: string): string {
  if (NAME_CODES.has(param)) return 'name';
  if (TELECOM_CODES.has(param)) return 'telecom';
  if (param === 'address' || param.startsWith('address-')) return 'address';
  return param;
}

const PERSON_TYPES = new Set(['Patient', 'Person', 'Practitioner', 'RelatedPerson']);
const COVER: Readonly<Record<string, readonly string[]>> = {
  name: ['family', 'given'],
  phonetic: ['name', 'family', 'given'],
  address: ['address-city', 'address-state', 'address-postalcode', 'address-country'],
};

/**
 * The narrower parameters whose blind tags also answer a search on `param`
 * (default, `:exact`, `:missing`), or [] when none do. On the person types,
 * by the R4 definitions (which custom SearchParameters cannot shadow),
 * `family` and `given` index parts of `name` (X.name.family, X.name.given),
 * `phonetic` indexes exactly what `name` does (X.name), and the `address-*`
 * parameters index parts of `address` (X.address.city…), each pair in one
 * blind domain (blindDomain), so their tags are equal. A resource's tag is
 * stored once, under the narrowest of these parameters, and a search on the
 * wider one reads the rows of all of them (src/store/blind-rows.ts
 * dropCoveredTags): about a quarter fewer index rows per ADT message.
 * Closed under inclusion: every parameter a wider one defers to is listed.
 */
export function blindCover(resourceType: string, param: string): readonly string[] {
  if (!PERSON_TYPES.has(resourceType)) return [];
  return COVER[param] ?? [];
}
