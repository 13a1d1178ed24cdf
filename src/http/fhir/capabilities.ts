import type { FhirResource } from '../../store/index.js';
import type { SearchParamDef } from '../../fhir/index-values.js';

export interface CapabilityInputs {
  baseUrl: string;
  version: string;
  resourceTypes: string[];
  searchParams(type: string): SearchParamDef[];
  /** A composite's component by canonical url (composites whose components do not resolve are not listed). */
  searchParamByUrl?(url: string): SearchParamDef | undefined;
  startedAt: Date;
  /** When the audit log serves AuditEvent: read and search only, with these parameters. */
  auditEventSearchParams?: readonly string[];
  /** `$reindex` at system and type level (docs/search.md). */
  reindex?: boolean;
}

const HAVEN_OPERATION = 'https://haven.health/fhir/OperationDefinition';

// Bulk Data Access 2.0 operations (docs/bulk.md) and Patient/$everything.
const BULK_TYPE_OPERATIONS: Record<string, { name: string; definition: string }[]> = {
  Patient: [
    { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' },
    { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
  ],
  Group: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' }],
};

// Parameter types the search implements; `special` (e.g. Location.near) is not advertised.
const SUPPORTED_TYPES = new Set(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri']);

function isSearchable(input: CapabilityInputs, p: SearchParamDef): boolean {
  if (SUPPORTED_TYPES.has(p.type)) return true;
  // Composites (ADR 0003) are searched by their components, each of a supported type.
  if (p.type !== 'composite' || p.expression === null || p.component.length === 0 || !input.searchParamByUrl) return false;
  return p.component.every((c) => {
    const def = input.searchParamByUrl!(c.definition);
    return def !== undefined && SUPPORTED_TYPES.has(def.type);
  });
}

// R4 compartments served by `GET /fhir/[Compartment]/[id]/[type|*]` (ids of the official CompartmentDefinitions).
const COMPARTMENTS = ['patient', 'encounter', 'relatedPerson', 'practitioner', 'device'];

const referenceParams = (input: CapabilityInputs, type: string) =>
  input.searchParams(type).filter((p) => p.type === 'reference' && p.expression !== null);

/** Target type → `Source:param` of every reference parameter that can point at it. */
function revIncludeTable(input: CapabilityInputs): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const source of input.resourceTypes) {
    for (const p of referenceParams(input, source)) {
      for (const target of p.target) out.set(target, [...(out.get(target) ?? []), `${source}:${p.code}`]);
    }
  }
  return out;
}

function includesOf(input: CapabilityInputs, type: string, rev: Map<string, string[]>): { searchInclude: string[]; searchRevInclude?: string[] } {
  const own = referenceParams(input, type).map((p) => `${type}:${p.code}`);
  const revIncludes = [...new Set(rev.get(type) ?? [])].sort();
  // FHIR JSON has no empty arrays: a type nothing references has no searchRevInclude at all.
  return { searchInclude: [...own, `${type}:*`], ...(revIncludes.length > 0 ? { searchRevInclude: revIncludes } : {}) };
}

/**
 * The CapabilityStatement states exactly what Haven implements: every
 * interaction below is served, and every listed search parameter works.
 */
export function buildCapabilityStatement(input: CapabilityInputs): FhirResource {
  const revIncludes = revIncludeTable(input);
  const interactions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: input.startedAt.toISOString(),
    publisher: 'Haven',
    kind: 'instance',
    software: { name: 'Haven', version: input.version },
    implementation: { description: 'Haven FHIR R4 server', url: input.baseUrl },
    fhirVersion: '4.0.1',
    instantiates: ['http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'],
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: ['token', 'authorize', 'introspect', 'revoke'].map((name) => ({
                url: name,
                valueUri: `${input.baseUrl.replace(/\/fhir$/, '')}/auth/${name}`,
              })),
            },
          ],
        },
        resource: input.resourceTypes.map((type) =>
          type === 'AuditEvent' && input.auditEventSearchParams
            ? auditEventCapability(input, input.auditEventSearchParams)
            : {
                type,
                interaction: interactions.map((code) => ({ code })),
                versioning: 'versioned-update',
                operation: [validate, ...(BULK_TYPE_OPERATIONS[type] ?? []), ...(input.reindex ? [reindex] : [])],
                readHistory: true,
                updateCreate: true,
                conditionalCreate: true,
                conditionalUpdate: true,
                conditionalDelete: 'single',
                searchParam: input
                  .searchParams(type)
                  .filter((p) => isSearchable(input, p))
                  .map((p) => ({ name: p.code, definition: p.url, type: p.type })),
                ...includesOf(input, type, revIncludes),
              },
        ),
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }],
        compartment: COMPARTMENTS.map((c) => `http://hl7.org/fhir/CompartmentDefinition/${c}`),
        operation: [
          { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
          { name: 'import', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import' },
          ...(input.reindex ? [reindex] : []),
        ],
      },
    ],
  };
}

const validate = { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' };
const reindex = { name: 'reindex', definition: `${HAVEN_OPERATION}/reindex` };

/**
 * AuditEvent is served from the tamper-evident audit log (src/http/fhir/audit-events.ts): read and
 * search, nothing written through the API, no history of its own, and only the parameters the audit
 * query implements.
 */
function auditEventCapability(input: CapabilityInputs, supported: readonly string[]): Record<string, unknown> {
  const byCode = new Map(input.searchParams('AuditEvent').map((p) => [p.code, p]));
  return {
    type: 'AuditEvent',
    interaction: [{ code: 'read' }, { code: 'search-type' }],
    operation: [validate],
    searchParam: supported.flatMap((code) => {
      const def = byCode.get(code);
      return def ? [{ name: code, definition: def.url, type: def.type }] : [];
    }),
  };
}
