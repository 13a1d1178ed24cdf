import { contextOf, openEnvelope, parseEnvelopeHeader, sealEnvelope, taggerFor, type BlindTagger, type KeyRef, type Keyring } from '../crypto/index.js';
import { isHavenError } from '../kernel/index.js';
import type { StoredAuditEntry } from './audit-event.js';
import type { AuditEntry } from './entry.js';
import { isPatientReference, isSealed, TAG_DOMAIN, TAG_PREFIX, type SealedAuditEntry, type SealedDetails, type StoredEntryJson, type TagKind } from './sealed-entry.js';

/** Tags a search value of one kind (patient reference, `Type/id`, token subject). */
export type AuditTagger = (kind: TagKind, value: string) => string;

/**
 * Sealing and opening of v2 entries with the tenant's keys (docs/security/audit.md,
 * "Entry format v2"): the `audit` data key seals the details, the `blind-index`
 * key tags the values searches need. Per call: two cached-key look-ups; per
 * entry one AES-GCM seal and one HMAC per tagged value not yet in the tag cache
 * (bench/audit-seal.ts: 30-55 µs of Node CPU added to a one-resource entry).
 */
export interface AuditEntryCrypto {
  /** v1 entries of ONE tenant as v2. `patientSubject`: the token is a patient's, so its subject is PHI. */
  seal(tenant: string, entries: AuditEntry[], patientSubject: boolean): Promise<SealedAuditEntry[]>;
  /**
   * Runs `use` with a tagger for the tenant's search values, or with undefined
   * when the tenant's blind-index key is gone (shredded): only v1 entries can
   * then match a value.
   */
  withTagger<T>(tenant: string, use: (tag: AuditTagger | undefined) => T): Promise<T>;
  /** Decrypts v2 entries in place of their public part; an entry whose key is gone or whose bytes fail is marked unavailable. */
  open(stored: StoredAuditEntry[]): Promise<StoredAuditEntry[]>;
}

/** Key states that make sealed details permanently unreadable: rendered as unavailable, never a failed page. */
const KEY_GONE = new Set(['CRYPTO_TENANT_SHREDDED', 'CRYPTO_KEY_DESTROYED', 'CRYPTO_KEY_NOT_FOUND']);
const keyGone = (err: unknown) => isHavenError(err) && KEY_GONE.has(err.code);

/** The associated data of an entry's envelope: it belongs to this tenant's entry with this event id, nowhere else. */
export const sealContext = (tenant: string, eventId: string) => contextOf('haven-audit-entry-v2', [tenant, eventId]);

/**
 * Tags kept per process and kind: the same patients and resources are audited
 * over and over, and an HMAC costs ~3-5 µs. Each kind has its own bound, so
 * the entity tags of a large store, where most reads and search results name
 * a resource not seen lately, cannot push out the patient tags, which repeat
 * on almost every entry. Until 2026-12-04 one bound of 20,000 held all kinds:
 * on the 1M-resource bench store (20,000 patients) random reads filled it
 * with entity tags every ~20,000 reads, so about two reads in three paid for
 * a patient tag again. A cached tag with its value holds ~250-300 bytes of
 * heap, so the three bounds cost at most ~13 MB, ~7 MB more than the one.
 */
export const TAG_CACHE_ENTRIES: Readonly<Record<TagKind, number>> = { patient: 20_000, entity: 20_000, subject: 5_000 };

/**
 * Memoized tags, by tenant and key version, then by kind, then by value: a
 * lookup is three Map gets on strings the caller already has, where one
 * flat map needed a `tenant|version|kind|value` string built per tag (most
 * of a cached tag's cost on the read path).
 */
export interface TagCache {
  byKey: Map<string, Record<TagKind, Map<string, string>>>;
  size: Record<TagKind, number>;
}

export const newTagCache = (): TagCache => ({ byKey: new Map(), size: { patient: 0, entity: 0, subject: 0 } });

/**
 * A tagger over the key the keyring handed out, memoized across calls by
 * tenant and key version (a tag is a pure function of them and the value).
 * The cache holds tags (stored in the log anyway) under plaintext values, in
 * memory only; consulted only inside a keyring callback, so a shredded
 * tenant's entries never reach it.
 */
export function cachingTagger(cache: TagCache, key: Buffer, tenant: string, version: number): AuditTagger {
  const id = `${tenant}\u0000${version}`;
  // Stays valid: a full kind clears its Maps in place, never the tenant's record of them.
  let kinds = cache.byKey.get(id);
  let tag: BlindTagger | undefined;
  return (kind, value) => {
    let t = kinds?.[kind].get(value);
    if (t === undefined) {
      tag ??= taggerFor(key);
      // blindTag's `\x` hex form, re-prefixed: see TAG_PREFIX.
      t = TAG_PREFIX + tag('exact', TAG_DOMAIN[kind], value).slice(2);
      // A full kind is cleared whole, in every tenant and key version: deleting a Map's oldest keys one
      // by one leaves holes that make every later keys().next() walk them (measured: search pages 2x
      // slower than no cache).
      if (cache.size[kind] >= TAG_CACHE_ENTRIES[kind]) {
        for (const other of cache.byKey.values()) other[kind].clear();
        cache.size[kind] = 0;
      }
      if (!kinds) cache.byKey.set(id, (kinds = { patient: new Map(), entity: new Map(), subject: new Map() }));
      kinds[kind].set(value, t);
      cache.size[kind]++;
    }
    return t;
  };
}

/** Members of an entry that are not copied as they are into its public part. */
type Reshaped = 'v' | 'who' | 'where' | 'resources';

/**
 * Splits one v1 entry into its public part (with tags) and the details to seal.
 * Runs for every audited read and write, so it allocates only what it returns:
 * members are assigned only when present (no `cond ? {…} : {}` spreads), the
 * public part starts as a copy of the entry (Object.assign: V8's clone fast
 * path, where rest destructuring was a slow generic copy) whose PHI-bearing
 * members are then replaced, and `details` is built with its keys in sorted
 * order, so JSON.stringify yields its canonical bytes (see sealDetails).
 */
export function splitEntry(entry: AuditEntry, tag: AuditTagger, patientSubject: boolean): { pub: Omit<SealedAuditEntry, 'sealed'>; details: SealedDetails } {
  const { who, where, resources } = entry;
  const patientOnBehalf = isPatientReference(who.onBehalfOf);
  const sealedResources: SealedDetails['resources'] = [];
  const publicResources: SealedAuditEntry['resources'] = [];
  for (const r of resources) {
    // Keys in sorted order: id, patient, version.
    const d: SealedDetails['resources'][number] = {};
    const p: SealedAuditEntry['resources'][number] = { type: r.type };
    if (r.id !== undefined) {
      d.id = r.id;
      p.entity = tag('entity', `${r.type}/${r.id}`);
    }
    if (r.patient !== undefined) {
      d.patient = r.patient;
      p.patient = tag('patient', r.patient);
    }
    if (r.version !== undefined) d.version = r.version;
    sealedResources.push(d);
    publicResources.push(p);
  }
  // Keys in sorted order: onBehalfOf, resources, sourceIp, subject.
  const details = {} as SealedDetails; // resources is set next, after the one key that sorts before it
  if (patientOnBehalf) details.onBehalfOf = who.onBehalfOf;
  details.resources = sealedResources;
  if (where.sourceIp !== undefined) details.sourceIp = where.sourceIp;
  if (patientSubject) details.subject = who.subject;
  const publicWho: SealedAuditEntry['who'] = { subject: patientSubject ? tag('subject', who.subject) : who.subject, clientId: who.clientId, kind: who.kind };
  if (who.onBehalfOf !== undefined && !patientOnBehalf) publicWho.onBehalfOf = who.onBehalfOf;
  if (who.tokenId !== undefined) publicWho.tokenId = who.tokenId;
  const pub = Object.assign({}, entry) as unknown as Omit<SealedAuditEntry, 'sealed'> & Omit<AuditEntry, Reshaped>;
  pub.v = 2;
  pub.who = publicWho;
  pub.where = { node: where.node };
  pub.resources = publicResources;
  return { pub, details };
}

/**
 * The plaintext of an entry's envelope: the canonical JSON of its details
 * (docs/security/audit.md). splitEntry inserts every key in sorted order and
 * every value is a string, a finite integer or an array of such objects, so
 * JSON.stringify writes exactly what canonicalJson would, natively; a test
 * (test/audit/entry-crypto.test.ts) holds the two equal.
 */
export function sealDetails(details: SealedDetails): Buffer {
  return Buffer.from(JSON.stringify(details), 'utf8');
}

/** The entry as an auditor reads it: the public part with the details put back, or marked unavailable. */
export function joinEntry(pub: SealedAuditEntry, details: SealedDetails | undefined): AuditEntry {
  const { sealed: _s, who, where, resources, ...rest } = pub;
  const onBehalfOf = details?.onBehalfOf ?? who.onBehalfOf;
  return {
    ...rest,
    v: 2,
    who: {
      subject: details?.subject ?? who.subject,
      clientId: who.clientId,
      kind: who.kind,
      ...(onBehalfOf !== undefined ? { onBehalfOf } : {}),
      ...(who.tokenId !== undefined ? { tokenId: who.tokenId } : {}),
    },
    where: { node: where.node, ...(details?.sourceIp !== undefined ? { sourceIp: details.sourceIp } : {}) },
    resources: resources.map((r, i) => {
      const d = details?.resources[i];
      return {
        type: r.type,
        ...(d?.id !== undefined ? { id: d.id } : {}),
        ...(d?.version !== undefined ? { version: d.version } : {}),
        ...(d?.patient !== undefined ? { patient: d.patient } : {}),
      };
    }),
  };
}

function parseDetails(bytes: Buffer): SealedDetails {
  const d = JSON.parse(bytes.toString('utf8')) as SealedDetails;
  if (!Array.isArray(d.resources)) throw new Error('sealed details lack resources');
  return d;
}

/** Without encryption (test only) v2 entries cannot be opened: their public part is shown, marked. */
export function openWithoutKeys(stored: StoredAuditEntry[]): StoredAuditEntry[] {
  return stored.map((s) => {
    const json = s.entry as StoredEntryJson;
    return isSealed(json) ? { ...s, entry: joinEntry(json, undefined), unavailable: 'encryption-off' } : markRedacted(s);
  });
}

/** A v1 entry written without its PHI for a shredded tenant reads as one whose details are unavailable. */
function markRedacted(s: StoredAuditEntry): StoredAuditEntry {
  return s.entry.redacted ? { ...s, unavailable: s.entry.redacted } : s;
}

type SplitParts = ReturnType<typeof splitEntry>[];

/** Seals the split entries' details under the tenant's audit key (`key`, version `ref.version`). */
function sealParts(tenant: string, parts: SplitParts, key: Buffer, ref: KeyRef): SealedAuditEntry[] {
  return parts.map(({ pub, details }) => {
    const sealed = pub as SealedAuditEntry;
    // Assigned, not spread into a copy: `pub` was made for this entry alone.
    sealed.sealed = sealEnvelope(key, { purpose: 'audit', keyVersion: ref.version }, sealDetails(details), sealContext(tenant, pub.id)).toString('base64');
    return sealed;
  });
}

export function createAuditEntryCrypto(keyring: Keyring): AuditEntryCrypto {
  const tags = newTagCache();
  const split = (tenant: string, entries: AuditEntry[], patientSubject: boolean) => (key: Buffer, ref: KeyRef) => {
    const tag = cachingTagger(tags, key, tenant, ref.version);
    return entries.map((e) => splitEntry(e, tag, patientSubject));
  };
  return {
    seal(tenant, entries, patientSubject) {
      // At once while both keys are cached (every audited read between status checks): one promise
      // per call, where awaiting the key ring twice made three.
      const sealWith = (parts: SplitParts) => keyring.useActiveKey(tenant, 'audit', (key, ref) => sealParts(tenant, parts, key, ref));
      const parts = keyring.useActiveKey(tenant, 'blind-index', split(tenant, entries, patientSubject));
      return parts instanceof Promise ? parts.then(sealWith) : Promise.resolve(sealWith(parts));
    },

    async withTagger(tenant, use) {
      let done: { value: ReturnType<typeof use> } | undefined;
      try {
        await keyring.withActiveKey(tenant, 'blind-index', (key, ref) => {
          done = { value: use(cachingTagger(tags, key, tenant, ref.version)) };
        });
      } catch (err) {
        // Only a missing key falls back; an error of `use` itself (a bad search) propagates.
        if (done || !keyGone(err)) throw err;
        return use(undefined);
      }
      return done!.value;
    },

    async open(stored) {
      // One key look-up per (tenant, key version) on the page, however many entries it has.
      const groups = new Map<string, { tenant: string; version: number; items: { i: number; pub: SealedAuditEntry; box: Buffer }[] }>();
      const out = [...stored];
      stored.forEach((s, i) => {
        const json = s.entry as StoredEntryJson;
        if (!isSealed(json)) {
          out[i] = markRedacted(s);
          return;
        }
        const box = Buffer.from(json.sealed, 'base64');
        let version: number;
        try {
          const h = parseEnvelopeHeader(box, `audit entry ${s.entryId}`);
          if (h.purpose !== 'audit') throw new Error('not an audit envelope');
          version = h.keyVersion;
        } catch {
          out[i] = { ...s, entry: joinEntry(json, undefined), unavailable: 'damaged' };
          return;
        }
        const id = `${json.tenant}\u0000${version}`;
        const g = groups.get(id) ?? { tenant: json.tenant, version, items: [] };
        g.items.push({ i, pub: json, box });
        groups.set(id, g);
      });
      for (const g of groups.values()) {
        const mark = (reason: string) => g.items.forEach(({ i, pub }) => (out[i] = { ...stored[i]!, entry: joinEntry(pub, undefined), unavailable: reason }));
        try {
          await keyring.withKey({ tenant: g.tenant, purpose: 'audit', version: g.version }, (key) => {
            for (const { i, pub, box } of g.items) {
              try {
                const details = parseDetails(openEnvelope(key, box, sealContext(pub.tenant, pub.id), `audit entry ${stored[i]!.entryId}`));
                out[i] = { ...stored[i]!, entry: joinEntry(pub, details) };
              } catch {
                // Tampered bytes fail the tag; verification names the entry (its leaf differs too).
                out[i] = { ...stored[i]!, entry: joinEntry(pub, undefined), unavailable: 'damaged' };
              }
            }
          });
        } catch (err) {
          if (!keyGone(err)) throw err;
          mark('key-destroyed');
        }
      }
      return out;
    },
  };
}
