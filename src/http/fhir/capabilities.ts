import type { FhirResource } from '../../store/index.js';
import type { SearchParamDef } from '../../fhir/index-values.js';

export interface CapabilityInputs {
  baseUrl: string;
  version: string;
  resourceTypes: string[];
  searchParams(type: string): SearchParamDef[];
  startedAt: Date;
}

// Bulk Data Access 2.0 operations (docs/bulk.md) and Patient/$everything.
const BULK_TYPE_OPERATIONS: Record<string, { name: string; definition: string }[]> = {
  Patient: [
    { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' },
    { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
  ],
  Group: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' }],
};

// Parameter types the search foundation implements; the others are not advertised.
const SUPPORTED_TYPES = new Set(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri']);

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

function includesOf(input: CapabilityInputs, type: string, rev: Map<string, string[]>): { searchInclude: string[]; searchRevInclude: string[] } {
  const own = referenceParams(input, type).map((p) => `${type}:${p.code}`);
  return { searchInclude: [...own, `${type}:*`], searchRevInclude: [...new Set(rev.get(type) ?? [])].sort() };
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
    patchFormat: ['application/json-patch+json'],
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
        resource: input.resourceTypes.map((type) => ({
          type,
          interaction: interactions.map((code) => ({ code })),
          versioning: 'versioned-update',
          operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }, ...(BULK_TYPE_OPERATIONS[type] ?? [])],
          readHistory: true,
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
          searchParam: input
            .searchParams(type)
            .filter((p) => SUPPORTED_TYPES.has(p.type))
            .map((p) => ({ name: p.code, definition: p.url, type: p.type })),
          ...includesOf(input, type, revIncludes),
        })),
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }],
        compartment: COMPARTMENTS.map((c) => `http://hl7.org/fhir/CompartmentDefinition/${c}`),
        operation: [
          { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
          { name: 'import', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import' },
        ],
      },
    ],
  };
}
