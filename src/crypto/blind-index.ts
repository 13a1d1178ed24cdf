import { createHmac } from 'node:crypto';
import type { Keyring } from './keyring.js';

/**
 * Blind-index tags: keyed HMAC-SHA-256 of a search value under the tenant's
 * `blind-index` data key (docs/security/encryption.md, "Blind indexes").
 *
 * A tag is truncated to 16 bytes: equality lookups need no more (a chance
 * collision among 2^64 values of one parameter still only adds a false
 * candidate, never hides a match), and the index tables and their B-trees
 * stay half the size of full 32-byte digests.
 */
export const BLIND_TAG_BYTES = 16;

/**
 * Bumped if the tag derivation ever changes; part of every HMAC input so tags
 * of different schemes, forms or parameters never compare equal (the same key
 * also tags HL7 v2 patient keys, under their own `hl7v2-patient|` prefix).
 */
const SCHEME = 'haven-bi1';

/** Which form of a value a tag stands for: a normalized prefix, the exact value, or a token code. */
export type BlindForm = 'prefix' | 'exact' | 'code';

/**
 * Computes tags with one unwrapped key; valid only during the callback that
 * received it. `domain` separates kinds of values (src/search/protected-params.ts blindDomain).
 */
export type BlindTagger = (form: BlindForm, domain: string, value: string) => string;

/** `\x`-prefixed hex: PostgreSQL's bytea input format, so tags travel as text and are cast in SQL. */
export function blindTag(key: Buffer, form: BlindForm, domain: string, value: string): string {
  return tagOf(key, form, domain, value);
}

const TAG_HEX_CHARS = BLIND_TAG_BYTES * 2;

/**
 * The HMAC input is `scheme NUL form NUL domain NUL value`. The digest comes out as hex and is
 * cut to the tag's length as a string: the same characters as hex of the
 * truncated digest Buffer, without allocating a Buffer and a view per tag
 * (~2 µs of ~5 µs per tag on the test machine).
 */
function tagOf(key: Buffer, form: BlindForm, domain: string, value: string): string {
  const hex = createHmac('sha256', key).update(`${SCHEME}\u0000${form}\u0000${domain}\u0000${value}`).digest('hex');
  return `\\x${hex.slice(0, TAG_HEX_CHARS)}`;
}

/**
 * A tagger bound to one key, for one write batch or one search. Tags are
 * memoized for the tagger's life: parameters sharing a domain (Patient
 * `name` and `family`) and values sharing prefixes repeat many inputs, and
 * creating the HMAC is most of the cost (~3-5 µs per tag on the 2-core test
 * machine; precomputed pad states with Hash.copy() measured slower still).
 * The memo holds plaintext search values, so it lives exactly as long as the
 * tagger: one withTagger callback (one write transaction or one search),
 * never across requests.
 */
export function taggerFor(key: Buffer): BlindTagger {
  // By form, domain, then value: a hit builds no string at all (a joined `form NUL domain` scope
  // per call was ~0.1 µs of ~230 calls per HL7 message); the HMAC input is built only on a miss.
  const memo: Record<BlindForm, Map<string, Map<string, string>>> = { prefix: new Map(), exact: new Map(), code: new Map() };
  return (form, domain, value) => {
    const byDomain = memo[form];
    let byValue = byDomain.get(domain);
    if (!byValue) byDomain.set(domain, (byValue = new Map()));
    let t = byValue.get(value);
    if (t === undefined) byValue.set(value, (t = tagOf(key, form, domain, value)));
    return t;
  };
}

export interface BlindIndexer {
  /**
   * Runs `use` with a tagger bound to the tenant's active blind-index key. The
   * key is handed over synchronously (the keyring may zero it once `use`
   * returns), so every tag of one write or one search is computed inside.
   */
  withTagger<T>(tenant: string, use: (tag: BlindTagger) => T): Promise<T>;
}

export function createBlindIndexer(keyring: Keyring): BlindIndexer {
  return {
    withTagger: (tenant, use) =>
      keyring.withActiveKey(tenant, 'blind-index', (key) => use(taggerFor(key))),
  };
}
