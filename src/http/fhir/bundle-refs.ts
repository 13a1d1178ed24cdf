import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import { requireType } from './checks.js';
import { resolveConditional, type ConditionalCache } from './conditional.js';
import type { FhirDeps } from './deps.js';

/** A conditional reference: a search URI in place of a literal reference (R4 http.html#trules). */
const CONDITIONAL_REF = /^([A-Z][A-Za-z]*)\?(.+)$/;

/**
 * Visits every `reference` string in a resource tree (Reference.reference,
 * wherever it sits, contained resources included) and replaces it when
 * `replace` returns a value. Mutates in place: the tree is the request's own.
 */
export function rewriteReferences(node: unknown, replace: (ref: string) => string | undefined): void {
  if (Array.isArray(node)) {
    for (const item of node) rewriteReferences(item, replace);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (key === 'reference' && typeof value === 'string') {
      const next = replace(value);
      if (next !== undefined) obj[key] = next;
    } else if (value !== null && typeof value === 'object') {
      rewriteReferences(value, replace);
    }
  }
}

/** The conditional references (`Patient?identifier=…`) found in a resource tree. */
export function conditionalReferences(node: unknown): string[] {
  const found: string[] = [];
  rewriteReferences(node, (ref) => {
    if (CONDITIONAL_REF.test(ref)) found.push(ref);
    return undefined;
  });
  return found;
}

/** The type and criteria of a conditional reference, else undefined. */
export function splitConditionalReference(ref: string): { type: string; criteria: string } | undefined {
  const m = CONDITIONAL_REF.exec(ref);
  return m ? { type: m[1]!, criteria: m[2]! } : undefined;
}

/**
 * Resolves one conditional reference to `Type/id`. The spec fails the
 * transaction on no match or several; both are a failed precondition (412).
 */
export async function resolveConditionalReference(
  deps: FhirDeps,
  ctx: RequestContext,
  tx: StoreTransaction,
  ref: string,
  cache?: ConditionalCache,
): Promise<string> {
  const m = CONDITIONAL_REF.exec(ref)!;
  const type = requireType(deps, m[1]);
  deps.authorize(ctx, type, 'search');
  const match = await resolveConditional(deps, ctx, tx, type, m[2]!, `Conditional reference to ${type}`, cache);
  if (!match) {
    throw new HavenError('precondition', 'CONDITIONAL_REFERENCE_NO_MATCH', `Conditional reference to ${type}: no ${type} matches the criteria`);
  }
  return `${type}/${match.id}`;
}

/** `Type/id` for an absolute URL on this server's base (`[base]/Patient/1`), else undefined. */
export function localReference(url: string, baseUrl: string): string | undefined {
  if (!url.startsWith(`${baseUrl}/`)) return undefined;
  const rest = url.slice(baseUrl.length + 1);
  return /^[A-Z][A-Za-z]*\/[A-Za-z0-9\-.]{1,64}$/.test(rest) ? rest : undefined;
}

/** Whether a fullUrl is a placeholder the server must replace (urn:uuid / urn:oid). */
export function isPlaceholder(fullUrl: string): boolean {
  return /^urn:(uuid|oid):/i.test(fullUrl);
}
