import { readdirSync, readFileSync } from 'node:fs';
import { corePackageDir } from '../../../src/fhir/core-package.js';

/** Conformance resources: definitions rather than examples, out of scope for instance validation. */
export const CONFORMANCE_TYPES = new Set([
  'StructureDefinition', 'SearchParameter', 'ValueSet', 'CodeSystem', 'CompartmentDefinition',
  'OperationDefinition', 'CapabilityStatement', 'ConceptMap', 'NamingSystem', 'ImplementationGuide',
  'StructureMap', 'GraphDefinition', 'MessageDefinition', 'TerminologyCapabilities', 'ExampleScenario',
]);

export interface Example {
  /** File name, with `#entry[i]` for a resource inside a Bundle example. */
  name: string;
  resource: Record<string, unknown>;
}

type Entry = { resource?: Record<string, unknown> };

/** Every non-conformance example of the HL7 R4 package, plus the entry resources of its Bundles. */
export function loadExamples(dir = corePackageDir()): Example[] {
  const out: Example[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file === 'package.json') continue;
    if (CONFORMANCE_TYPES.has(file.slice(0, file.indexOf('-')))) continue;
    const resource = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Record<string, unknown>;
    if (typeof resource.resourceType !== 'string' || CONFORMANCE_TYPES.has(resource.resourceType)) continue;
    const entries = resource.resourceType === 'Bundle' && Array.isArray(resource.entry) ? (resource.entry as Entry[]) : [];
    // Bundles that only package definitions (Bundle-resources, Bundle-valuesets, ...) are conformance content too.
    if (entries.length > 0 && entries.every((e) => CONFORMANCE_TYPES.has(String(e.resource?.resourceType)))) continue;
    out.push({ name: file, resource });
    entries.forEach((entry, i) => {
      if (entry.resource && !CONFORMANCE_TYPES.has(String(entry.resource.resourceType))) {
        out.push({ name: `${file}#entry[${i}]`, resource: entry.resource });
      }
    });
  }
  return out;
}
