import { readFileSync, readdirSync } from 'node:fs';
import { corePackageDir } from '../../src/fhir/core-package.js';
import { createFhirDefinitions } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';

let shared: FhirDefinitions | undefined;

/** One FhirDefinitions per test process: loading is the slow part and it is read-only here. */
export function fhir(): FhirDefinitions {
  shared ??= createFhirDefinitions();
  return shared;
}

export function example(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${corePackageDir()}/${file}`, 'utf8')) as Record<string, unknown>;
}

/** Every HL7 example resource of a concrete resource type (not the definitions). */
export function allExamples(types: ReadonlySet<string>): { file: string; resource: Record<string, unknown> }[] {
  const skip = new Set(['SearchParameter', 'StructureDefinition', 'ValueSet', 'CodeSystem']);
  const out: { file: string; resource: Record<string, unknown> }[] = [];
  for (const file of readdirSync(corePackageDir())) {
    const type = file.split('-')[0] ?? '';
    if (!file.endsWith('.json') || !types.has(type) || skip.has(type)) continue;
    const resource = example(file);
    if (resource['resourceType'] === type) out.push({ file, resource });
  }
  return out;
}
