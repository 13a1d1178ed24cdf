import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * Reads HL7's official R4 package (npm `hl7.fhir.r4.examples@4.0.1`, CC0),
 * which carries the core StructureDefinitions, SearchParameters,
 * CompartmentDefinitions, ValueSets and CodeSystems beside the examples.
 */
export function corePackageDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
}

/** Every file of the package whose name starts with `${resourceType}-`, parsed. */
export function readCoreResources<T = Record<string, unknown>>(resourceType: string, dir = corePackageDir()): T[] {
  const prefix = `${resourceType}-`;
  const out: T[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.json')) continue;
    const parsed = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')) as { resourceType?: string };
    if (parsed.resourceType === resourceType) out.push(parsed as T);
  }
  return out;
}
