import type { FhirResource } from '../../store/index.js';
import type { SearchParamDef } from '../../fhir/index-values.js';

export interface CapabilityInputs {
  baseUrl: string;
  version: string;
  resourceTypes: string[];
  searchParams(type: string): SearchParamDef[];
  startedAt: Date;
}

// Parameter types the search foundation implements; the others are not advertised.
const SUPPORTED_TYPES = new Set(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri']);

/**
 * The CapabilityStatement states exactly what Haven implements: every
 * interaction below is served, and every listed search parameter works.
 */
export function buildCapabilityStatement(input: CapabilityInputs): FhirResource {
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
              extension: [{ url: 'token', valueUri: `${input.baseUrl.replace(/\/fhir$/, '')}/auth/token` }],
            },
          ],
        },
        resource: input.resourceTypes.map((type) => ({
          type,
          interaction: interactions.map((code) => ({ code })),
          versioning: 'versioned-update',
          operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
          readHistory: true,
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
          searchParam: input
            .searchParams(type)
            .filter((p) => SUPPORTED_TYPES.has(p.type))
            .map((p) => ({ name: p.code, definition: p.url, type: p.type })),
        })),
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
      },
    ],
  };
}
