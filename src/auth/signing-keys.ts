import { createPublicKey } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { HavenError, systemClock } from '../kernel/index.js';
import type { Clock, TenantId } from '../kernel/index.js';
import type { Db, Queryable } from '../store/index.js';

/**
 * Haven's own access-token signing keys, one active key per tenant, created on
 * first use and kept in `signing_key`. Every node reads the same rows, so a
 * token signed by one node verifies on any other.
 */
export type SigningAlg = 'ES256' | 'EdDSA' | 'RS256';
/** Access tokens and id_tokens use separate key series, so neither can pass for the other. */
export type SigningPurpose = 'access-token' | 'id-token';

export interface ActiveSigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
}

export interface VerificationKey {
  kid: string;
  alg: string;
  /** A node:crypto key, made once per key: access tokens are verified synchronously (see compact-jws.ts). */
  key: KeyObject;
}

export interface PublicJwks {
  keys: JWK[];
}

export interface SigningKeyStore {
  activeKey(tenant: TenantId): Promise<ActiveSigningKey>;
  /** Public keys for `/.well-known/jwks.json`. */
  jwks(tenant: TenantId): Promise<PublicJwks>;
  /** The public key with this kid, reloading from the database (rate-limited) when unknown. */
  verificationKey(tenant: TenantId, kid: string): Promise<VerificationKey | undefined>;
}

export interface SigningKeyStoreOptions {
  db: Db;
  alg?: SigningAlg;
  purpose?: SigningPurpose;
  clock?: Clock;
  /** Minimum time between reloads triggered by an unknown kid; bounds the cost of tokens with random kids. */
  reloadIntervalMs?: number;
  /** How long a retired key still verifies tokens it signed (tokens live ≤ 5 min by default). */
  retiredGraceMs?: number;
  /** Bound on cached tenants; the tenant of an unverified token is attacker-chosen. */
  maxTenants?: number;
}

interface KeyRow {
  kid: string;
  alg: SigningAlg;
  private_jwk: JWK;
  public_jwk: JWK;
  retired_at: Date | null;
}

interface TenantKeys {
  /** Undefined until the tenant's first token is issued. */
  active: ActiveSigningKey | undefined;
  publicKeys: Map<string, VerificationKey>;
  jwks: PublicJwks;
  loadedAt: number;
}

const selectKeys =
  'SELECT kid, alg, private_jwk, public_jwk, retired_at FROM signing_key WHERE tenant_id = $1 AND purpose = $2 ORDER BY created_at DESC, kid';

async function generateRow(alg: SigningAlg): Promise<KeyRow> {
  const { privateKey, publicKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const meta = { kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    private_jwk: { ...(await exportJWK(privateKey)), ...meta },
    public_jwk: { ...publicJwk, ...meta },
    retired_at: null,
  };
}

async function createFirstKey(db: Db, tenant: TenantId, alg: SigningAlg, purpose: SigningPurpose): Promise<KeyRow[]> {
  return db.transaction(async (tx: Queryable) => {
    // Lock so concurrent nodes starting at once agree on one key.
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('haven.signing_key:' || $1 || ':' || $2, 0))", [tenant, purpose]);
    const again = await tx.query<KeyRow>(selectKeys, [tenant, purpose]);
    if (again.rows.some((r) => r.retired_at === null)) return again.rows;
    const row = await generateRow(alg);
    await tx.query(
      'INSERT INTO signing_key (tenant_id, kid, alg, private_jwk, public_jwk, purpose) VALUES ($1, $2, $3, $4, $5, $6)',
      [tenant, row.kid, row.alg, JSON.stringify(row.private_jwk), JSON.stringify(row.public_jwk), purpose],
    );
    return [row, ...again.rows];
  });
}

async function toTenantKeys(rows: KeyRow[], now: number, graceMs: number): Promise<TenantKeys> {
  const activeRow = rows.find((r) => r.retired_at === null);
  const live = rows.filter((r) => r.retired_at === null || r.retired_at.getTime() + graceMs > now);
  const publicKeys = new Map<string, VerificationKey>();
  for (const r of live) {
    publicKeys.set(r.kid, { kid: r.kid, alg: r.alg, key: createPublicKey({ key: r.public_jwk as JsonWebKey, format: 'jwk' }) });
  }
  const active = activeRow && {
    kid: activeRow.kid,
    alg: activeRow.alg,
    privateKey: (await importJWK(activeRow.private_jwk, activeRow.alg)) as CryptoKey,
  };
  return { active, publicKeys, jwks: { keys: live.map((r) => r.public_jwk) }, loadedAt: now };
}

export function createSigningKeyStore(options: SigningKeyStoreOptions): SigningKeyStore {
  const { db, alg = 'ES256', clock = systemClock, reloadIntervalMs = 5_000, purpose = 'access-token' } = options;
  const { retiredGraceMs = 10 * 60_000, maxTenants = 10_000 } = options;
  const cache = new Map<TenantId, Promise<TenantKeys>>();

  // Verification never creates keys: only issuing does, so forged tenants cost no rows.
  const load = (tenant: TenantId, create: boolean): Promise<TenantKeys> => {
    const pending = (async () => {
      let rows = (await db.query<KeyRow>(selectKeys, [tenant, purpose])).rows;
      if (create && !rows.some((r) => r.retired_at === null)) rows = await createFirstKey(db, tenant, alg, purpose);
      return toTenantKeys(rows, clock.now().getTime(), retiredGraceMs);
    })();
    cache.delete(tenant);
    cache.set(tenant, pending);
    if (cache.size > maxTenants) cache.delete(cache.keys().next().value as TenantId);
    // A failed load (database down) must not stick: the next call retries.
    pending.catch(() => {
      if (cache.get(tenant) === pending) cache.delete(tenant);
    });
    return pending;
  };

  return {
    async activeKey(tenant) {
      const cached = await (cache.get(tenant) ?? load(tenant, true));
      const active = cached.active ?? (await load(tenant, true)).active;
      if (!active) throw new HavenError('fault', 'AUTH_SIGNING_KEY_MISSING', 'No active signing key');
      return active;
    },
    async jwks(tenant) {
      return (await (cache.get(tenant) ?? load(tenant, false))).jwks;
    },
    async verificationKey(tenant, kid) {
      const keys = await (cache.get(tenant) ?? load(tenant, false));
      const found = keys.publicKeys.get(kid);
      if (found || clock.now().getTime() - keys.loadedAt < reloadIntervalMs) return found;
      return (await load(tenant, false)).publicKeys.get(kid);
    },
  };
}
