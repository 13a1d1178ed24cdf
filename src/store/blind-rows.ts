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
  /** The index-writer row: the parameter, the table's columns in layout order with `blind` last, the group. */
  row: (string | null)[];
  /** The tag of a string row (prefix or exact form): what dropCoveredTags compares. */
  stringTag: string | undefined;
}

export interface BlindRowOptions {
  policy: ProtectedParams;
  normalize: (s: string) => string;
}

/** A UTF-16 surrogate: the value has a character outside the BMP, so prefixes are cut by code point. */
const SURROGATE = /[\ud800-\udfff]/;

/** Code-point prefixes (a character outside the BMP is never split in two), and the whole value. */
function prefixes(norm: string): string[] {
  const out: string[] = [];
  if (!SURROGATE.test(norm)) {
    // One code unit per character (nearly every name and address): slices, without an array of characters.
    const n = norm.length;
    for (let i = BLIND_PREFIX_MIN; i <= n && i <= BLIND_PREFIX_MAX; i++) out.push(norm.slice(0, i));
    if (n > BLIND_PREFIX_MAX || n < BLIND_PREFIX_MIN) out.push(norm);
    return out;
  }
  const chars = Array.from(norm);
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
  const system = v.type === 'token' ? v.system : null;
  const scope = `${v.param}\u0000${v.group ?? ''}\u0000${system ?? ''}`;
  let tags = seen.get(scope);
  if (!tags) seen.set(scope, (tags = new Set()));
  const group = v.group === undefined ? null : String(v.group);
  const domain = blindDomain(v.param);
  const out: BlindRow[] = [];
  if (v.type === 'token') {
    const t = v.code === null ? null : tag('code', domain, v.code);
    if (!tags.has(t ?? '')) {
      tags.add(t ?? '');
      out.push({ type: 'token', param: v.param, row: [v.param, system, null, null, t, group], stringTag: undefined });
    }
    return out;
  }
  addString(out, tags, v.param, group, tag('exact', domain, v.value));
  for (const p of prefixes(o.normalize(v.value))) addString(out, tags, v.param, group, tag('prefix', domain, p));
  return out;
}

/** A string row for tag `t`, unless the resource already has it. */
function addString(out: BlindRow[], tags: Set<string>, param: string, group: string | null, t: string): void {
  if (tags.has(t)) return;
  tags.add(t);
  out.push({ type: 'string', param, row: [param, null, null, t, group], stringTag: t });
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
    const tag = r.stringTag;
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
    const tag = r.stringTag;
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
  const row = [v.param, v.targetType, v.targetId, v.url, v.version, v.identifierSystem, null, t, v.group === undefined ? null : String(v.group)];
  return [{ type: 'reference', param: v.param, row, stringTag: undefined }];
}
