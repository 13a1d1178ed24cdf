import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { corePackageDir } from '../core-package.js';

/** A parsed conformance resource, kept loosely typed: only a few fields are read. */
export type Json = Record<string, unknown>;

/**
 * Where the validator finds StructureDefinitions, ValueSets and CodeSystems.
 * Injected so tests can supply their own; the default reads HL7's R4 package.
 */
export interface DefinitionSource {
  structureDefinition(type: string): Json | undefined;
  valueSet(url: string): Json | undefined;
  codeSystem(url: string): Json | undefined;
}

function readJson(path: string): Json | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

/**
 * Reads files of the core package on demand. Files are named `<Type>-<id>.json`
 * and most canonical URLs end in the id, so a guess by the last URL segment
 * finds nearly everything; the rest is found by a one-time scan (built lazily,
 * because reading all 2,400 terminology files costs a few hundred ms).
 */
export function createPackageDefinitions(dir = corePackageDir()): DefinitionSource {
  const byUrl = new Map<string, Map<string, string>>();

  function scan(prefix: string): Map<string, string> {
    let index = byUrl.get(prefix);
    if (index) return index;
    index = new Map();
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(`${prefix}-`)) continue;
      const parsed = readJson(`${dir}/${name}`);
      if (typeof parsed?.url === 'string') index.set(parsed.url, name);
    }
    byUrl.set(prefix, index);
    return index;
  }

  function byCanonical(prefix: string, rawUrl: string): Json | undefined {
    const url = rawUrl.split('|')[0] ?? rawUrl;
    const guess = readJson(`${dir}/${prefix}-${url.slice(url.lastIndexOf('/') + 1)}.json`);
    if (guess?.url === url) return guess;
    const name = scan(prefix).get(url);
    return name ? readJson(`${dir}/${name}`) : undefined;
  }

  return {
    structureDefinition: (type) =>
      /^[A-Za-z][A-Za-z0-9]*$/.test(type) ? readJson(`${dir}/StructureDefinition-${type}.json`) : undefined,
    valueSet: (url) => byCanonical('ValueSet', url),
    codeSystem: (url) => byCanonical('CodeSystem', url),
  };
}
