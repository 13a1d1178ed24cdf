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

export interface Keyring {
  withActiveKey<T>(tenant: string, purpose: KeyPurpose, use: (key: Buffer, ref: KeyRef) => T): Promise<T>;
  withKey<T>(ref: KeyRef, use: (key: Buffer) => T): Promise<T>;
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
  key: Buffer;
  expiresAt: number;
  /** When the row's status was last confirmed in the database. */
  checkedAt: number;
}

const refKey = (r: KeyRef) => `${r.tenant}\u0000${r.purpose}\u0000${r.version}`;
const activeKey = (tenant: string, purpose: KeyPurpose) => `${tenant}\u0000${purpose}`;

export function createKeyring(options: KeyringOptions): Keyring {
  const clock = options.clock ?? systemClock;
  const ttlMs = options.ttlMs ?? 300_000;
  const maxEntries = options.maxEntries ?? 1000;
  const cache = new Map<string, Entry>(); // insertion order = age, for eviction
  const refreshMs = options.refreshMs ?? 5000;
  const active = new Map<string, { version: number; checkedAt: number }>(); // tenant+purpose → active version
  const loading = new Map<string, Promise<void>>();

  function evict(id: string): void {
    const e = cache.get(id);
    if (!e) return;
    e.key.fill(0);
    cache.delete(id);
  }
  function sweep(): void {
    const now = clock.now().getTime();
    for (const [id, e] of cache) if (e.expiresAt <= now) evict(id);
  }
  const timer = setInterval(sweep, Math.max(1000, Math.min(ttlMs, 60_000)));
  timer.unref();

  /** The cached key if it is still within its lifetime AND its status was confirmed recently. */
  function live(id: string, now: number): Buffer | undefined {
    const e = cache.get(id);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      evict(id);
      return undefined;
    }
    return now - e.checkedAt < refreshMs ? e.key : undefined;
  }

  /** A still-valid cached key was re-confirmed: no second unwrap through the KMS. */
  function reconfirm(id: string): boolean {
    const e = cache.get(id);
    if (!e || e.expiresAt <= clock.now().getTime()) return false;
    e.checkedAt = clock.now().getTime();
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
    const now = clock.now().getTime();
    cache.set(id, { key, expiresAt: now + ttlMs, checkedAt: now });
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
    active.set(activeKey(tenant, purpose), { version: row.version, checkedAt: clock.now().getTime() });
  }

  return {
    async withActiveKey(tenant, purpose, use) {
      for (let attempt = 0; attempt < 3; attempt++) {
        // One clock reading per look-up: the system clock allocates a Date per call.
        const now = clock.now().getTime();
        const a = active.get(activeKey(tenant, purpose));
        const fresh = a !== undefined && now - a.checkedAt < refreshMs;
        const ref = fresh ? { tenant, purpose, version: a.version } : undefined;
        const key = ref && live(refKey(ref), now);
        if (ref && key) return use(key, ref);
        await once(activeKey(tenant, purpose), () => loadActive(tenant, purpose));
      }
      throw new HavenError('unavailable', 'CRYPTO_KEY_UNAVAILABLE', `The ${purpose} data key of tenant ${tenant} could not be kept in memory; retry`);
    },
    async withKey(ref, use) {
      const id = refKey(ref);
      for (let attempt = 0; attempt < 3; attempt++) {
        const key = live(id, clock.now().getTime());
        if (key) return use(key);
        await once(id, () => loadKey(ref));
      }
      throw new HavenError('unavailable', 'CRYPTO_KEY_UNAVAILABLE', `The ${ref.purpose} data key v${ref.version} of tenant ${ref.tenant} could not be kept in memory; retry`);
    },
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
}
