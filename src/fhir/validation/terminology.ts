import type { DefinitionSource, Json } from './definitions.js';

/** The codes of a value set, as `system|code` plus bare codes (for `code`-typed elements). */
export interface CodeSet {
  url: string;
  pairs: Set<string>;
  codes: Set<string>;
}

/** Raised inside expansion when a value set cannot be fully enumerated. */
class NotExpandable extends Error {}

function collectConcepts(concepts: unknown, out: string[]): void {
  if (!Array.isArray(concepts)) return;
  for (const c of concepts as Json[]) {
    if (typeof c.code === 'string') out.push(c.code);
    collectConcepts(c.concept, out);
  }
}

function wholeSystem(defs: DefinitionSource, system: string): string[] {
  const cs = defs.codeSystem(system);
  // Only complete code systems can be enumerated; fragments, examples and external ones cannot.
  if (!cs || cs.content !== 'complete') throw new NotExpandable(system);
  const out: string[] = [];
  collectConcepts(cs.concept, out);
  return out;
}

function includeCodes(defs: DefinitionSource, inc: Json, seen: Set<string>): Set<string> {
  if (Array.isArray(inc.filter) && inc.filter.length > 0) throw new NotExpandable('filter');
  const system = inc.system;
  let result: Set<string> | undefined;
  if (typeof system === 'string') {
    const listed = Array.isArray(inc.concept) ? (inc.concept as Json[]).map((c) => String(c.code)) : undefined;
    result = new Set((listed ?? wholeSystem(defs, system)).map((code) => `${system}|${code}`));
  }
  for (const vsUrl of (inc.valueSet as string[] | undefined) ?? []) {
    const nested = expand(defs, vsUrl, seen).pairs;
    result = result ? new Set([...result].filter((p) => nested.has(p))) : new Set(nested);
  }
  if (!result) throw new NotExpandable('empty include');
  return result;
}

function fromExpansion(expansion: Json): Set<string> {
  const pairs = new Set<string>();
  const walk = (contains: unknown): void => {
    if (!Array.isArray(contains)) return;
    for (const c of contains as Json[]) {
      if (typeof c.system === 'string' && typeof c.code === 'string') pairs.add(`${c.system}|${c.code}`);
      walk(c.contains);
    }
  };
  walk(expansion.contains);
  return pairs;
}

function expand(defs: DefinitionSource, rawUrl: string, seen: Set<string>): CodeSet {
  const url = rawUrl.split('|')[0] ?? rawUrl;
  if (seen.has(url)) throw new NotExpandable('cycle');
  seen.add(url);
  const vs = defs.valueSet(url);
  if (!vs) throw new NotExpandable(url);
  const compose = vs.compose as Json | undefined;
  let pairs = new Set<string>();
  if (compose) {
    for (const inc of (compose.include as Json[] | undefined) ?? []) {
      for (const p of includeCodes(defs, inc, seen)) pairs.add(p);
    }
    for (const exc of (compose.exclude as Json[] | undefined) ?? []) {
      for (const p of includeCodes(defs, exc, seen)) pairs.delete(p);
    }
  }
  const expansion = vs.expansion as Json | undefined;
  if (expansion) pairs = new Set([...pairs, ...fromExpansion(expansion)]);
  if (pairs.size === 0) throw new NotExpandable('no codes');
  const codes = new Set([...pairs].map((p) => p.slice(p.lastIndexOf('|') + 1)));
  return { url, pairs, codes };
}

/**
 * Expands value sets from the package, caching results (including "cannot
 * expand", recorded as null so required bindings on such sets are skipped).
 */
export function createTerminology(defs: DefinitionSource): (valueSet: string) => CodeSet | undefined {
  const cache = new Map<string, CodeSet | null>();
  return (valueSet) => {
    let set = cache.get(valueSet);
    if (set === undefined) {
      try {
        set = expand(defs, valueSet, new Set());
      } catch (err) {
        if (!(err instanceof NotExpandable)) throw err;
        set = null;
      }
      cache.set(valueSet, set);
    }
    return set ?? undefined;
  };
}
