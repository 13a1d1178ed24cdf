/** What a Reference.reference string points at. */
export type ParsedReference =
  | { kind: 'relative'; type: string }
  | { kind: 'absolute'; type?: string }
  | { kind: 'local'; id: string }
  | { kind: 'urn' }
  | { kind: 'conditional'; type: string }
  | { kind: 'invalid' };

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE = new RegExp(`^([A-Z][A-Za-z]+)/(${ID})(/_history/${ID})?$`);
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?\S*$/;
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/\S+$/i;
const ABSOLUTE_TYPED = new RegExp(`/([A-Z][A-Za-z]+)/(${ID})(/_history/${ID})?$`);
const URN_UUID = /^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const URN_OID = /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/;

/**
 * Classifies a literal reference (https://hl7.org/fhir/R4/references.html):
 * `Type/id[/_history/vid]`, an absolute URL, `#id` / `#`, `urn:uuid:` / `urn:oid:`,
 * or a conditional `Type?query` (only meaningful in transactions, accepted anywhere
 * because the store resolves it before persisting).
 */
export function parseReference(reference: string): ParsedReference {
  if (reference.startsWith('#')) {
    return reference === '#' || new RegExp(`^#${ID}$`).test(reference)
      ? { kind: 'local', id: reference.slice(1) }
      : { kind: 'invalid' };
  }
  const relative = RELATIVE.exec(reference);
  if (relative?.[1]) return { kind: 'relative', type: relative[1] };
  const conditional = CONDITIONAL.exec(reference);
  if (conditional?.[1]) return { kind: 'conditional', type: conditional[1] };
  if (URN_UUID.test(reference) || URN_OID.test(reference)) return { kind: 'urn' };
  if (ABSOLUTE.test(reference)) {
    const typed = ABSOLUTE_TYPED.exec(reference);
    return typed?.[1] ? { kind: 'absolute', type: typed[1] } : { kind: 'absolute' };
  }
  return { kind: 'invalid' };
}
