import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { corePackageDir, readCoreResources } from './core-package.js';
import type { SearchParamDef, SearchParamType } from './index-values.js';

/** What `_summary`, `_elements` and choice handling need to know about one element. */
export interface ElementInfo {
  min: number;
  summary: boolean;
  /** BackboneElement (or contentReference to one): summary rules recurse into it. */
  backbone: boolean;
  /** For `value[x]`: the allowed type codes (e.g. ['Quantity','string']); else null. */
  choice: string[] | null;
  /** For elements defined elsewhere (Questionnaire.item.item → Questionnaire.item). */
  contentRef: string | null;
}

/** Element definitions of one resource type, keyed by path without `[x]` (e.g. `Observation.value`). */
export type TypeElements = Record<string, ElementInfo>;

/** Compartment membership: compartment type → resource type → linking params. */
export type CompartmentTable = Record<string, Record<string, string[]>>;

/** The compact, derived slice of the R4 core package that Haven uses. */
export interface CoreDefinitions {
  fhirVersion: string;
  resourceTypes: string[];
  elements: Record<string, TypeElements>;
  searchParams: SearchParamDef[];
  compartments: CompartmentTable;
}

interface RawElement {
  path: string;
  min?: number;
  isSummary?: boolean;
  type?: { code: string }[];
  contentReference?: string;
}

interface RawStructureDefinition {
  resourceType: string;
  name: string;
  type: string;
  kind?: string;
  derivation?: string;
  abstract?: boolean;
  fhirVersion?: string;
  snapshot?: { element: RawElement[] };
}

interface RawSearchParameter {
  url: string;
  code: string;
  type: SearchParamType;
  base: string[];
  expression?: string;
  target?: string[];
  component?: { definition: string; expression: string }[];
}

// Bump when the shape of CoreDefinitions changes, so stale caches are rebuilt.
const CACHE_SCHEMA = 1;

function toElementInfo(el: RawElement): ElementInfo {
  const codes = (el.type ?? []).map((t) => t.code);
  const isChoice = el.path.endsWith('[x]');
  return {
    min: el.min ?? 0,
    summary: el.isSummary === true,
    backbone: codes.includes('BackboneElement') || codes.includes('Element') || el.contentReference !== undefined,
    choice: isChoice ? codes : null,
    contentRef: el.contentReference ? el.contentReference.replace(/^#/, '') : null,
  };
}

function readElements(sd: RawStructureDefinition): TypeElements {
  const out: TypeElements = {};
  for (const el of sd.snapshot?.element ?? []) {
    if (!el.path.includes('.')) continue;
    out[el.path.replace(/\[x\]$/, '')] = toElementInfo(el);
  }
  return out;
}

/** Concrete resource types: only the capitalised files can be core resource definitions. */
function readResourceStructures(dir: string): RawStructureDefinition[] {
  const out: RawStructureDefinition[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^StructureDefinition-[A-Z][A-Za-z]+\.json$/.test(name)) continue;
    const sd = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')) as RawStructureDefinition;
    if (sd.kind === 'resource' && sd.derivation === 'specialization' && sd.abstract !== true) out.push(sd);
  }
  return out;
}

function toSearchParamDef(sp: RawSearchParameter): SearchParamDef {
  return {
    url: sp.url,
    code: sp.code,
    type: sp.type,
    base: [...sp.base],
    expression: sp.expression ?? null,
    target: [...(sp.target ?? [])],
    component: (sp.component ?? []).map((c) => ({ definition: c.definition, expression: c.expression })),
  };
}

/** The official core set (Bundle-searchParams), not the example/extension parameters beside it. */
function readSearchParams(dir: string): SearchParamDef[] {
  const bundle = JSON.parse(readFileSync(`${dir}/Bundle-searchParams.json`, 'utf8')) as {
    entry: { resource: RawSearchParameter }[];
  };
  return bundle.entry.map((e) => toSearchParamDef(e.resource));
}

function readCompartments(dir: string): CompartmentTable {
  type Raw = { code: string; resource: { code: string; param?: string[] }[]; id: string };
  const out: CompartmentTable = {};
  for (const cd of readCoreResources<Raw>('CompartmentDefinition', dir)) {
    if (cd.id === 'example') continue;
    const table: Record<string, string[]> = {};
    for (const r of cd.resource) if (r.param && r.param.length > 0) table[r.code] = [...r.param];
    out[cd.code] = table;
  }
  return out;
}

/** Builds the derived definitions straight from the package (slow path, ~300 ms). */
export function buildCoreDefinitions(dir = corePackageDir()): CoreDefinitions {
  const structures = readResourceStructures(dir);
  const elements: Record<string, TypeElements> = {};
  for (const sd of structures) elements[sd.type] = readElements(sd);
  return {
    fhirVersion: structures[0]?.fhirVersion ?? '4.0.1',
    resourceTypes: structures.map((s) => s.type).sort(),
    elements,
    searchParams: readSearchParams(dir),
    compartments: readCompartments(dir),
  };
}

function packageVersion(dir: string): string {
  const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** Default cache beside the compiled code (dist/), so a rebuild of dist/ refreshes it. */
export function defaultCachePath(): string {
  return fileURLToPath(new URL('../../.cache/fhir-r4-core.json', import.meta.url));
}

export interface LoadOptions {
  packageDir?: string;
  /** Where to keep the derived JSON; `null` disables caching. */
  cachePath?: string | null;
}

/**
 * Loads the derived definitions, from a compact cache when it matches the
 * installed package version; the cache keeps server start well under the
 * 700 ms budget (parsing ~40 MB of StructureDefinitions takes ~300 ms).
 */
export function loadCoreDefinitions(options: LoadOptions = {}): CoreDefinitions {
  const dir = options.packageDir ?? corePackageDir();
  const cachePath = options.cachePath === undefined ? defaultCachePath() : options.cachePath;
  const key = `${CACHE_SCHEMA}:${packageVersion(dir)}`;
  if (cachePath && existsSync(cachePath)) {
    const cached = JSON.parse(readFileSync(cachePath, 'utf8')) as { key?: string; defs?: CoreDefinitions };
    if (cached.key === key && cached.defs) return cached.defs;
  }
  const defs = buildCoreDefinitions(dir);
  if (cachePath) writeCache(cachePath, key, defs);
  return defs;
}

function writeCache(cachePath: string, key: string, defs: CoreDefinitions): void {
  try {
    mkdirSync(dirname(cachePath), { recursive: true });
    writeFileSync(cachePath, JSON.stringify({ key, defs }));
  } catch {
    // A read-only install still works; it just rebuilds on every start.
  }
}
