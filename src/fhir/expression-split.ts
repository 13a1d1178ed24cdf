/**
 * Official SearchParameters share one expression between bases
 * (`Patient.name | Practitioner.name`). Each resource type only needs its
 * own part: evaluating the others is wasted work on the ingest path.
 */

const COMMON_ROOTS = new Set(['Resource', 'DomainResource']);

/** Splits on `|` outside parentheses and string literals. */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

/** The leading type name of a part (`(Observation.value as Quantity)` → Observation). */
function rootOf(part: string): { root: string; at: number } | null {
  const m = /^[\s(]*([A-Za-z][A-Za-z0-9]*)/.exec(part);
  if (!m || m[1] === undefined) return null;
  return { root: m[1], at: m[0].length - m[1].length };
}

/**
 * The part of `expression` that applies to `resourceType`, with a
 * Resource/DomainResource root rewritten to the concrete type (so the fast
 * path and fhirpath.js see the same path). Parts rooted in another known
 * type are dropped; parts with no type root (rare) are kept.
 */
export function expressionForType(expression: string, resourceType: string, knownTypes: ReadonlySet<string>): string | null {
  const kept: string[] = [];
  for (const part of splitUnion(expression)) {
    const r = rootOf(part);
    if (r && COMMON_ROOTS.has(r.root)) {
      kept.push(part.slice(0, r.at) + resourceType + part.slice(r.at + r.root.length));
    } else if (!r || r.root === resourceType || !knownTypes.has(r.root)) {
      kept.push(part);
    }
  }
  return kept.length > 0 ? kept.join(' | ') : null;
}
