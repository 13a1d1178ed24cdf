/**
 * Rewrites a parsed query for blind-indexed parameters (protected-params.ts):
 * each string or token value becomes the HMAC tag stored for it, and what a
 * tag cannot answer (substrings, display text, hierarchies, value sets,
 * ordering) is refused with SEARCH_PROTECTED_PARAM.
 *
 * Stored forms (src/store/blind-rows.ts): strings as tags of their normalized
 * prefixes of BLIND_PREFIX_MIN to BLIND_PREFIX_MAX characters plus the whole normalized value,
 * and of the exact value; tokens as a tag of the code, the system staying in
 * plaintext (code systems are not PHI).
 */
import { HavenError } from '../kernel/index.js';
import { blindCover, blindDomain, type ProtectedParams } from './protected-params.js';
import type { Criterion, SearchQuery, SearchValue } from './query.js';

/** Same signature as src/crypto/blind-index.ts BlindTagger (search may not import crypto). */
export type QueryTagger = (form: 'prefix' | 'exact' | 'code', param: string, value: string) => string;

/**
 * Normalized prefixes of BLIND_PREFIX_MIN to BLIND_PREFIX_MAX characters are
 * stored as tags, and so is every whole normalized value. A search string in
 * that range finds values starting with it; a shorter or longer one finds
 * values equal to it. One- and two-letter prefixes are left out on purpose:
 * they would add two rows to every value and reveal initials, for searches
 * that match a large share of all patients anyway.
 */
export const BLIND_PREFIX_MIN = 3;
export const BLIND_PREFIX_MAX = 16;

export function protectedRefusal(param: string, what: string): HavenError {
  return new HavenError(
    'incorrect',
    'SEARCH_PROTECTED_PARAM',
    `Search parameter '${param}' is protected by a blind index (its values are stored only as keyed hashes), so ${what} is not available on it`,
    { expression: [param] },
  );
}

interface Ctx {
  policy: ProtectedParams;
  tag: QueryTagger;
}

function stringValue(c: Criterion, v: SearchValue, ctx: Ctx): SearchValue {
  if (v.kind !== 'string') return v;
  if (c.modifier === 'exact') return { kind: 'blind', tag: ctx.tag('exact', blindDomain(c.param), v.value), system: null, systemColumn: 'system' };
  return { kind: 'blind', tag: ctx.tag('prefix', blindDomain(c.param), v.norm), system: null, systemColumn: 'system' };
}

function tokenValue(c: Criterion, v: SearchValue, ctx: Ctx): SearchValue {
  if (v.kind !== 'token' || v.code === null) return v; // `system|` matches by the plaintext system alone
  return { kind: 'blind', tag: ctx.tag('code', blindDomain(c.param), v.code), system: v.system, systemColumn: 'system' };
}

/** Reference `:identifier` (Reference.identifier, often an MRN): tagged like a token code under `<param>:identifier`. */
function referenceIdentifier(c: Criterion, ctx: Ctx): Criterion {
  const values = c.values.map((v): SearchValue => {
    if (v.kind !== 'identifier') return v;
    const system = v.system === null ? ({ match: 'any' } as const) : ({ match: 'equals', value: v.system } as const);
    return { kind: 'blind', tag: ctx.tag('code', `${c.param}:identifier`, v.value), system, systemColumn: 'identifier_system' };
  });
  return { ...c, values };
}

const refusedModifier: Record<string, string> = {
  contains: ':contains (substring search)',
  text: ':text (search on display text)',
  in: ':in (value-set membership)',
  'not-in': ':not-in (value-set membership)',
  above: ':above (code hierarchy)',
  below: ':below (code hierarchy)',
};

function protectCriterion(type: string, c: Criterion, ctx: Ctx): Criterion {
  if ((c.kind === 'chain' || c.kind === 'has') && c.link) {
    const protect = (l: { targetType: string; inner: Criterion }) => ({ ...l, inner: protectCriterion(l.targetType, l.inner, ctx) });
    return { ...c, link: protect(c.link), ...(c.otherLinks ? { otherLinks: c.otherLinks.map(protect) } : {}) };
  }
  if (c.kind === 'reference' && c.modifier === 'identifier' && ctx.policy.isProtected(type, 'identifier')) return referenceIdentifier(c, ctx);
  if ((c.kind !== 'string' && c.kind !== 'token') || !ctx.policy.isProtected(type, c.param)) return c;
  if (c.modifier === 'missing') return withCover(type, c);
  if (c.modifier !== null && refusedModifier[c.modifier]) throw protectedRefusal(c.param, refusedModifier[c.modifier]!);
  const map = c.kind === 'string' ? stringValue : tokenValue;
  return withCover(type, { ...c, values: c.values.map((v) => map(c, v, ctx)) });
}

/**
 * A protected string parameter's tags may be stored under narrower parameters
 * instead (src/store/blind-rows.ts dropCoveredTags): the criterion reads
 * their rows too. Whether `param` has any value (`:missing`) is answered by
 * the same rows: a narrower parameter has values only where it does.
 */
function withCover(type: string, c: Criterion): Criterion {
  const cover = c.kind === 'string' ? blindCover(type, c.param) : [];
  return cover.length > 0 ? { ...c, rowParams: [c.param, ...cover] } : c;
}

/** The query with protected values replaced by tags; throws SEARCH_PROTECTED_PARAM for what tags cannot do. */
export function blindQuery(query: SearchQuery, policy: ProtectedParams, tag: QueryTagger): SearchQuery {
  const ctx: Ctx = { policy, tag };
  for (const s of query.sort) {
    if ((s.kind === 'string' || s.kind === 'token') && policy.isProtected(query.resourceType, s.param)) {
      throw protectedRefusal(s.param, '_sort (ordering by value)');
    }
  }
  return { ...query, criteria: query.criteria.map((c) => protectCriterion(query.resourceType, c, ctx)) };
}
