import { randomBytes } from 'node:crypto';
import { HavenError, systemClock, type Clock } from '../kernel/index.js';
import { findActiveKey, findKey, insertFirstKey, isShredded, type DataKeyRow, type SqlDb } from './data-key-store.js';
import type { KeyPurpose } from './envelope-format.js';
import { DEK_BYTES, dekContext, type Kms } from './kms.js';

/**
 * Data-encryption keys per tenant and purpose: created on first use (wrapped
 * by the KMS, stored in `data_key`), unwrapped on demand and cached in memory
 * for a bounded time. An evicted key's buffer is zeroed.
 *
 * Keys are only ever handed to a synchronous callback (`withActiveKey`,
 * `withKey`): eviction runs on the same thread, so it can never zero a key
 * while an encryption is using it.
 */
export interface KeyRef {
  tenant: string;
  purpose: KeyPurpose;
  version: number;
}

/** What the `tryWith…` look-ups return when the key is not in memory, or its status is due for a re-check. */
export const NOT_CACHED: unique symbol = Symbol('key not cached');
export type NotCached = typeof NOT_CACHED;

export interface Keyring {
  withActiveKey<T>(tenant: string, purpose: KeyPurpose, use: (key: Buffer, ref: KeyRef) => T): Promise<T>;
  withKey<T>(ref: KeyRef, use: (key: Buffer) => T): Promise<T>;
  /**
   * `withActiveKey` without a promise when it can be: runs `use` at once if
   * the key is in memory and its status was confirmed within `refreshMs` (the
   * case `withActiveKey` would also take without a query), else returns
   * NOT_CACHED and the caller takes `withActiveKey`. For the per-read paths
   * (body decrypt, audit seal), where each promise and await is CPU per read.
   */
  tryWithActiveKey<T>(tenant: string, purpose: KeyPurpose, use: (key: Buffer, ref: KeyRef) => T): T | NotCached;
  /** `withKey` without a promise when it can be; see tryWithActiveKey. */
  tryWithKey<T>(ref: KeyRef, use: (key: Buffer) => T): T | NotCached;
  /**
   * The result at once when the key is cached (tryWithActiveKey), else
   * withActiveKey's promise. A failure of `use` always comes as a rejected
   * promise, never a throw, so callers handle one error path.
   */
  useActiveKey<T>(tenant: string, purpose: KeyPurpose, use: (key: Buffer, ref: KeyRef) => T): T | Promise<T>;
  /** `withKey`, at once when it can be; see useActiveKey. */
  useKey<T>(ref: KeyRef, use: (key: Buffer) => T): T | Promise<T>;
  /** Zeroes and forgets every cached key (also after KEK rotation or on shutdown). */
  clear(): void;
  /** Number of keys in memory (for tests and metrics). */
  cachedCount(): number;
  close(): Promise<void>;
}

export interface KeyringOptions {
  db: SqlDb;
  kms: Kms;
  clock?: Clock;
  /** How long an unwrapped DEK stays in memory after it was unwrapped. */
  ttlMs?: number;
  /** Most DEKs in memory at once; the oldest is evicted (and zeroed) first. */
  maxEntries?: number;
  /**
   * How stale this node's view of `data_key` may get: after this long a cached
   * key's status (destroyed by a shred?) and the active version (rotated by
   * another node?) are checked again with one small query. Default 5 s.
   */
  refreshMs?: number;
}

interface Entry {
  id: string;
  key: Buffer;
  expiresAt: number;
  /** When the row's status was last confirmed in the database. */
  checkedAt: number;
  /** Set when evicted (and zeroed): an Active record holding it looks it up again. */
  evicted: boolean;
}

/** The active version of one tenant's purpose, with its cached entry at hand. */
interface Active {
  /** Handed to `use` as it is (frozen): one object per version, not one per look-up. */
  ref: Readonly<KeyRef>;
  checkedAt: number;
  /** The cache entry of `ref` when last seen: no key string to build and hash per look-up. */
  entry: Entry | undefined;
}

const refKey = (r: KeyRef) => `${r.tenant}\u0000${r.purpose}\u0000${r.version}`;
const activeKey = (tenant: string, purpose: KeyPurpose) => `${tenant}\u0000${purpose}`;

export function createKeyring(options: KeyringOptions): Keyring {
  const clock = options.clock ?? systemClock;
  // The system clock's reading without the Date it allocates; an injected clock (tests) is asked as it is.
  const nowMs = clock === systemClock ? Date.now : () => clock.now().getTime();
  const ttlMs = options.ttlMs ?? 300_000;
  const maxEntries = options.maxEntries ?? 1000;
  const cache = new Map<string, Entry>(); // insertion order = age, for eviction
  const refreshMs = options.refreshMs ?? 5000;
  // tenant → purpose → active version: two gets on strings the caller already has (their hashes are
  // cached in them), where a joined `tenant|purpose` key was built and hashed per look-up.
  const active = new Map<string, Map<KeyPurpose, Active>>();
  const loading = new Map<string, Promise<void>>();

  function evict(id: string): void {
    const e = cache.get(id);
    if (!e) return;
    e.key.fill(0);
    e.evicted = true;
    cache.delete(id);
  }
  function sweep(): void {
    const now = nowMs();
    for (const [id, e] of cache) if (e.expiresAt <= now) evict(id);
  }
  const timer = setInterval(sweep, Math.max(1000, Math.min(ttlMs, 60_000)));
  timer.unref();

  /** The cached key if it is still within its lifetime AND its status was confirmed recently. */
  function live(id: string, now: number): Buffer | undefined {
    const e = cache.get(id);
    return e && liveKey(e, now);
  }
  function liveKey(e: Entry, now: number): Buffer | undefined {
    if (e.expiresAt <= now) {
      evict(e.id);
      return undefined;
    }
    return now - e.checkedAt < refreshMs ? e.key : undefined;
  }

  /** The active record of a tenant's purpose, if its version was confirmed within refreshMs. */
  function freshActive(tenant: string, purpose: KeyPurpose, now: number): Active | undefined {
    const a = active.get(tenant)?.get(purpose);
    return a !== undefined && now - a.checkedAt < refreshMs ? a : undefined;
  }
  /** The key of an active record, from its entry while that is still the cached one. */
  function activeKeyOf(a: Active, now: number): Buffer | undefined {
    let e = a.entry;
    if (e === undefined || e.evicted) e = a.entry = cache.get(refKey(a.ref));
    return e && liveKey(e, now);
  }
  function tryActive<T>(tenant: string, purpose: KeyPurpose, use: (key: Buffer, ref: KeyRef) => T): T | NotCached {
    const now = nowMs(); // one clock reading per look-up
    const a = freshActive(tenant, purpose, now);
    const key = a && activeKeyOf(a, now);
    return key ? use(key, a!.ref) : NOT_CACHED;
  }
  function tryKey<T>(ref: KeyRef, use: (key: Buffer) => T): T | NotCached {
    const now = nowMs();
    // Most reads need the active version: its record holds the entry, no key string to build.
    const a = active.get(ref.tenant)?.get(ref.purpose);
    const key = a !== undefined && a.ref.version === ref.version ? activeKeyOf(a, now) : live(refKey(ref), now);
    return key ? use(key) : NOT_CACHED;
  }

  /** A still-valid cached key was re-confirmed: no second unwrap through the KMS. */
  function reconfirm(id: string): boolean {
    const e = cache.get(id);
    if (!e || e.expiresAt <= nowMs()) return false;
    e.checkedAt = nowMs();
    return true;
  }

  async function unwrapRow(row: DataKeyRow): Promise<void> {
    const id = refKey({ tenant: row.tenant_id, purpose: row.purpose, version: row.version });
    if (row.wrapped === null) {
      evict(id); // shredded while cached on this node
      throw new HavenError('fault', 'CRYPTO_KEY_DESTROYED', `Data key ${row.purpose} v${row.version} of tenant ${row.tenant_id} was destroyed; data encrypted with it cannot be read`);
    }
    if (reconfirm(id)) return;
    const key = await options.kms.unwrap(row.wrapped, dekContext(row.tenant_id, row.purpose));
    evict(id);
    while (cache.size >= maxEntries) evict(cache.keys().next().value!);
    const now = nowMs();
    cache.set(id, { id, key, expiresAt: now + ttlMs, checkedAt: now, evicted: false });
  }

  /** One load per key at a time, however many requests need it. */
  function once(id: string, load: () => Promise<void>): Promise<void> {
    let p = loading.get(id);
    if (!p) {
      p = load().finally(() => loading.delete(id));
      loading.set(id, p);
    }
    return p;
  }

  async function loadKey(ref: KeyRef): Promise<void> {
    const row = await findKey(options.db, ref.tenant, ref.purpose, ref.version);
    if (!row) throw new HavenError('fault', 'CRYPTO_KEY_NOT_FOUND', `Data key ${ref.purpose} v${ref.version} of tenant ${ref.tenant} does not exist`);
    if (row.wrapped === null && (await isShredded(options.db, ref.tenant))) {
      evict(refKey(ref));
      throw new HavenError('gone', 'CRYPTO_TENANT_SHREDDED', `Tenant ${ref.tenant} was crypto-shredded: its data keys were destroyed, so its data can no longer be read`);
    }
    await unwrapRow(row);
  }

  async function loadActive(tenant: string, purpose: KeyPurpose): Promise<void> {
    let row = await findActiveKey(options.db, tenant, purpose);
    if (!row) {
      if (await isShredded(options.db, tenant)) {
        throw new HavenError('gone', 'CRYPTO_TENANT_SHREDDED', `Tenant ${tenant} was crypto-shredded: its data keys were destroyed and it accepts no new data`);
      }
      const dek = randomBytes(DEK_BYTES);
      try {
        const wrapped = await options.kms.wrap(dek, dekContext(tenant, purpose));
        await insertFirstKey(options.db, tenant, purpose, options.kms.describe().kekId, wrapped);
      } finally {
        dek.fill(0); // the stored row is the source of truth, even if we won the race
      }
      row = await findActiveKey(options.db, tenant, purpose);
      if (!row) throw new HavenError('fault', 'CRYPTO_KEY_NOT_FOUND', `No active ${purpose} data key for tenant ${tenant} after creating one`);
    }
    await unwrapRow(row);
    let byPurpose = active.get(tenant);
    if (!byPurpose) active.set(tenant, (byPurpose = new Map()));
    const ref = Object.freeze({ tenant, purpose, version: row.version });
    byPurpose.set(purpose, { ref, checkedAt: nowMs(), entry: cache.get(refKey(ref)) });
  }

  /** The cached answer, or `later` when the key is not cached; a throw of `use` becomes a rejection. */
  function nowOrLater<T>(now: () => T | NotCached, later: () => Promise<T>): T | Promise<T> {
    let done: T | NotCached;
    try {
      done = now();
    } catch (err) {
      return Promise.reject(err);
    }
    return done !== NOT_CACHED ? done : later();
  }

  const keyring: Keyring = {
    async withActiveKey(tenant, purpose, use) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const done = tryActive(tenant, purpose, use);
        if (done !== NOT_CACHED) return done;
        await once(activeKey(tenant, purpose), () => loadActive(tenant, purpose));
      }
      throw new HavenError('unavailable', 'CRYPTO_KEY_UNAVAILABLE', `The ${purpose} data key of tenant ${tenant} could not be kept in memory; retry`);
    },
    async withKey(ref, use) {
      const id = refKey(ref);
      for (let attempt = 0; attempt < 3; attempt++) {
        const done = tryKey(ref, use);
        if (done !== NOT_CACHED) return done;
        await once(id, () => loadKey(ref));
      }
      throw new HavenError('unavailable', 'CRYPTO_KEY_UNAVAILABLE', `The ${ref.purpose} data key v${ref.version} of tenant ${ref.tenant} could not be kept in memory; retry`);
    },
    tryWithActiveKey: tryActive,
    tryWithKey: tryKey,
    useActiveKey: (tenant, purpose, use) => nowOrLater(() => tryActive(tenant, purpose, use), () => keyring.withActiveKey(tenant, purpose, use)),
    useKey: (ref, use) => nowOrLater(() => tryKey(ref, use), () => keyring.withKey(ref, use)),
    clear() {
      for (const id of [...cache.keys()]) evict(id);
      active.clear();
    },
    cachedCount: () => cache.size,
    async close() {
      clearInterval(timer);
      this.clear();
    },
  };
  return keyring;
}
