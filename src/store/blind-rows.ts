import type { IndexValue } from '../fhir/index-values.js';
import type { BlindTagger } from '../crypto/blind-index.js';
import { BLIND_PREFIX_MAX, BLIND_PREFIX_MIN, blindCover, blindDomain, type ProtectedParams } from '../search/index.js';

/**
 * Index rows of blind-indexed parameters (docs/security/encryption.md): the
 * plaintext columns stay NULL and each searchable form is one row carrying
 * its HMAC tag in `blind`. The forms mirror what src/search/blind-query.ts
 * asks for, and nothing more:
 * - strings: the exact value (`:exact`), and every normalized prefix of
 *   BLIND_PREFIX_MIN to BLIND_PREFIX_MAX characters plus the whole normalized
 *   value (default starts-with search; a shorter or longer search string
 *   then matches whole values); on person types, a tag a narrower parameter
 *   of the same resource also holds is stored under that one only
 *   (dropCoveredTags);
 * - tokens: the code (system|code, |code, code); the system stays plaintext.
 */
export interface BlindRow {
  type: 'string' | 'token' | 'reference';
  param: string;
  group: number | undefined;
  /** The table's columns in index-writer layout order, `blind` last. */
  columns: (string | null)[];
}

/** The tag of a string row (prefix or exact form, its last column): what dropCoveredTags compares. */
function stringTagOf(r: BlindRow): string | undefined {
  return r.type === 'string' ? (r.columns[r.columns.length - 1] ?? undefined) : undefined;
}

export interface BlindRowOptions {
  policy: ProtectedParams;
  normalize: (s: string) => string;
}

/** Code-point prefixes (a character outside the BMP is never split in two), and the whole value. */
function prefixes(norm: string): string[] {
  const chars = Array.from(norm);
  const out: string[] = [];
  let acc = '';
  for (let i = 0; i < chars.length && i < BLIND_PREFIX_MAX; i++) {
    acc += chars[i];
    if (i + 1 >= BLIND_PREFIX_MIN) out.push(acc);
  }
  if (chars.length > BLIND_PREFIX_MAX || chars.length < BLIND_PREFIX_MIN) out.push(norm);
  return out;
}

/**
 * The forms a resource already has, so each is written once: by
 * `param NUL group NUL system`, the tags (or '' for a token without a code).
 * Keyed in two levels so a tag, a string the tagger memoizes with its hash
 * already computed, is looked up as it is instead of inside a new joined key.
 */
export type BlindSeen = Map<string, Set<string>>;

/**
 * The blind rows standing for `v`, or null when `v` is not protected.
 * `seen` drops repeated tags within one resource (given "Ann" and "Anna"
 * share three prefixes): one row per tag is enough for the semi-join.
 */
export function blindRows(resourceType: string, v: IndexValue, tag: BlindTagger, o: BlindRowOptions, seen: BlindSeen): BlindRow[] | null {
  if (v.type === 'reference') return blindReference(resourceType, v, tag, o);
  if ((v.type !== 'string' && v.type !== 'token') || !o.policy.isProtected(resourceType, v.param)) return null;
  const out: BlindRow[] = [];
  const system = v.type === 'token' ? v.system : null;
  const scope = `${v.param}\u0000${v.group ?? ''}\u0000${system ?? ''}`;
  let tags = seen.get(scope);
  if (!tags) seen.set(scope, (tags = new Set()));
  const add = (t: string | null) => {
    const key = t ?? '';
    if (tags.has(key)) return;
    tags.add(key);
    const columns = v.type === 'token' ? [system, null, null, t] : [null, null, t];
    out.push({ type: v.type, param: v.param, group: v.group, columns });
  };
  const domain = blindDomain(v.param);
  if (v.type === 'token') {
    add(v.code === null ? null : tag('code', domain, v.code));
    return out;
  }
  add(tag('exact', domain, v.value));
  for (const p of prefixes(o.normalize(v.value))) add(tag('prefix', domain, p));
  return out;
}

/**
 * Drops the string rows of a wider parameter (`name`, `phonetic`, `address`
 * of a person type) whose tag a narrower one (`family`, `given`,
 * `address-city`…) of the same resource also holds: a search on the wider
 * parameter reads the narrower ones' rows too (src/search/blind-query.ts,
 * blindCover), so its result is unchanged. Tags of prefixes and of exact
 * values differ (the form is part of the HMAC input), so each form is matched
 * with its own kind. Decided against every row of the resource, not the rows
 * kept, so the order of the values does not matter.
 */
export function dropCoveredTags(resourceType: string, rows: BlindRow[]): BlindRow[] {
  let byParam: Map<string, Set<string>> | undefined;
  const keep: BlindRow[] = [];
  rows: for (const r of rows) {
    const tag = stringTagOf(r);
    const cover = tag === undefined ? NO_COVER : blindCover(resourceType, r.param);
    if (cover.length > 0) {
      byParam ??= stringTagsByParam(rows);
      for (const n of cover) if (byParam.get(n)?.has(tag!) === true) continue rows;
    }
    keep.push(r);
  }
  return keep;
}

const NO_COVER: readonly string[] = [];

function stringTagsByParam(rows: BlindRow[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    const tag = stringTagOf(r);
    if (tag === undefined) continue;
    let set = out.get(r.param);
    if (!set) out.set(r.param, (set = new Set()));
    set.add(tag);
  }
  return out;
}

/**
 * Reference.identifier (`subject:identifier=…`, usually an MRN) follows the
 * referring type's `identifier` protection: the value becomes a tag under
 * `<param>:identifier`; the target type/id, url and identifier system stay.
 */
function blindReference(resourceType: string, v: Extract<IndexValue, { type: 'reference' }>, tag: BlindTagger, o: BlindRowOptions): BlindRow[] | null {
  if (v.identifierValue === null || !o.policy.isProtected(resourceType, 'identifier')) return null;
  const t = tag('code', `${v.param}:identifier`, v.identifierValue);
  const columns = [v.targetType, v.targetId, v.url, v.version, v.identifierSystem, null, t];
  return [{ type: 'reference', param: v.param, group: v.group, columns }];
}
