import { readFileSync, readdirSync } from 'node:fs';
import { corePackageDir } from '../../src/fhir/core-package.js';

/**
 * A small structural checker driven by the official R4 StructureDefinitions
 * (snapshot elements): unknown element names, array-vs-single cardinality,
 * missing required elements, primitive JSON types, and codes of required
 * bindings. It is test support for the synthetic generator — not Haven's
 * validator — so that "valid R4" is checked against HL7's definitions rather
 * than against our own memory of them.
 */

interface ElementDef {
  path: string;
  min: number;
  max: string;
  types: string[];
  requiredValueSet?: string;
}

type Json = Record<string, unknown>;

const dir = corePackageDir();
const definitions = new Map<string, Map<string, ElementDef>>();

function readJson(name: string): Json {
  return JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')) as Json;
}

function definition(type: string): Map<string, ElementDef> {
  let map = definitions.get(type);
  if (map) return map;
  map = new Map();
  const snapshot = readJson(`StructureDefinition-${type}.json`)['snapshot'] as { element: Json[] };
  for (const e of snapshot.element) {
    const binding = e['binding'] as { strength?: string; valueSet?: string } | undefined;
    const types = ((e['type'] as { code: string }[] | undefined) ?? []).map((t) => t.code);
    map.set(e['path'] as string, {
      path: e['path'] as string,
      min: e['min'] as number,
      max: e['max'] as string,
      types,
      ...(binding?.strength === 'required' && binding.valueSet ? { requiredValueSet: binding.valueSet.split('|')[0] } : {}),
    });
  }
  definitions.set(type, map);
  return map;
}

let valueSetIndex: Map<string, Json> | undefined;
let codeSystemIndex: Map<string, Json> | undefined;

function index(prefix: string): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const name of readdirSync(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.json')) {
      const json = readJson(name);
      if (typeof json['url'] === 'string') out.set(json['url'], json);
    }
  }
  return out;
}

function codesOf(concepts: Json[] | undefined, into: Set<string>): void {
  for (const c of concepts ?? []) {
    into.add(`${c['code'] as string}`);
    codesOf(c['concept'] as Json[] | undefined, into);
  }
}

/** Allowed `system|code` pairs of a value set (only the simple include forms R4 core uses). */
function allowedCodes(valueSetUrl: string): Set<string> {
  valueSetIndex ??= index('ValueSet-');
  codeSystemIndex ??= index('CodeSystem-');
  const out = new Set<string>();
  const compose = valueSetIndex.get(valueSetUrl)?.['compose'] as { include: Json[] } | undefined;
  for (const inc of compose?.include ?? []) {
    const system = inc['system'] as string;
    const codes = new Set<string>();
    if (inc['concept']) codesOf(inc['concept'] as Json[], codes);
    else codesOf(codeSystemIndex.get(system)?.['concept'] as Json[] | undefined, codes);
    for (const code of codes) out.add(`${system}|${code}`);
  }
  return out;
}

const NUMBER_TYPES = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);
const DATE_TIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;
const DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;

function checkPrimitive(type: string, value: unknown, at: string, problems: string[]): void {
  const ok = NUMBER_TYPES.has(type)
    ? typeof value === 'number'
    : type === 'boolean'
      ? typeof value === 'boolean'
      : typeof value === 'string' && value.trim() === value && value !== '';
  if (!ok) problems.push(`${at}: not a valid ${type}`);
  else if (type === 'dateTime' && !DATE_TIME.test(value as string)) problems.push(`${at}: bad dateTime`);
  else if (type === 'date' && !DATE.test(value as string)) problems.push(`${at}: bad date`);
}

function checkBinding(def: ElementDef, value: unknown, type: string, at: string, problems: string[]): void {
  if (!def.requiredValueSet) return;
  const allowed = allowedCodes(def.requiredValueSet);
  const systems = new Set([...allowed].map((k) => k.split('|')[0]));
  if (type === 'code') {
    if (![...allowed].some((k) => k.endsWith(`|${value as string}`))) problems.push(`${at}: code ${String(value)} not in ${def.requiredValueSet}`);
    return;
  }
  const codings = type === 'Coding' ? [value as Json] : (((value as Json)['coding'] as Json[] | undefined) ?? []);
  for (const c of codings) {
    if (systems.has(c['system'] as string) && !allowed.has(`${c['system'] as string}|${c['code'] as string}`)) {
      problems.push(`${at}: ${String(c['system'])}|${String(c['code'])} not in ${def.requiredValueSet}`);
    }
  }
}

/** Finds the definition for a JSON key, resolving choice elements (`value[x]` → `valueQuantity`). */
function lookup(defs: Map<string, ElementDef>, path: string, key: string): { def: ElementDef; type: string } | undefined {
  const direct = defs.get(`${path}.${key}`);
  if (direct) return { def: direct, type: direct.types[0] ?? 'BackboneElement' };
  for (const def of defs.values()) {
    if (!def.path.endsWith('[x]') || !def.path.startsWith(`${path}.`)) continue;
    const base = def.path.slice(path.length + 1, -3);
    const type = def.types.find((t) => key === base + t.charAt(0).toUpperCase() + t.slice(1));
    if (type) return { def, type };
  }
  return undefined;
}

function checkValue(defs: Map<string, ElementDef>, def: ElementDef, type: string, value: unknown, at: string, problems: string[]): void {
  checkBinding(def, value, type, at, problems);
  if (type.startsWith('http://hl7.org/fhirpath/System.')) checkPrimitive('string', value, at, problems);
  else if (type.charAt(0) === type.charAt(0).toLowerCase()) checkPrimitive(type, value, at, problems);
  else if (type === 'BackboneElement' || type === 'Element') checkObject(defs, def.path, value, at, problems);
  else checkObject(definition(type), type, value, at, problems);
}

function checkObject(defs: Map<string, ElementDef>, path: string, value: unknown, at: string, problems: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${at}: expected an object`);
    return;
  }
  const obj = value as Json;
  for (const [key, child] of Object.entries(obj)) {
    if (key === 'resourceType' && path === at) continue;
    const found = lookup(defs, path, key);
    if (!found) {
      problems.push(`${at}.${key}: unknown element`);
      continue;
    }
    const many = found.def.max !== '1';
    if (Array.isArray(child) !== many) problems.push(`${at}.${key}: cardinality max ${found.def.max}`);
    const items = Array.isArray(child) ? child : [child];
    if (items.length === 0) problems.push(`${at}.${key}: empty array`);
    items.forEach((item, i) => checkValue(defs, found.def, found.type, item, many ? `${at}.${key}[${i}]` : `${at}.${key}`, problems));
  }
  for (const def of defs.values()) {
    const rest = def.path.slice(path.length + 1);
    if (def.min < 1 || !def.path.startsWith(`${path}.`) || rest.includes('.')) continue;
    const present = rest.endsWith('[x]') ? Object.keys(obj).some((k) => k.startsWith(rest.slice(0, -3))) : rest in obj;
    if (!present) problems.push(`${at}.${rest}: required (min ${def.min})`);
  }
}

/** Problems found in one resource; empty when it conforms structurally to R4. */
export function checkR4Structure(resource: Json): string[] {
  const type = resource['resourceType'] as string;
  const problems: string[] = [];
  checkObject(definition(type), type, resource, type, problems);
  return problems;
}
