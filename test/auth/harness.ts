import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { asTenantId } from '../../src/kernel/index.js';
import type { Clock, TenantId } from '../../src/kernel/index.js';
import {
  createClientRegistry,
  createSigningKeyStore,
  createTokenEndpoint,
  createTokenVerifier,
} from '../../src/auth/index.js';
import type { ClientRegistry, SigningKeyStore, TokenEndpoint, TokenVerifier } from '../../src/auth/index.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';

export const ISSUER = 'https://haven.test';
export const FHIR_BASE = 'https://haven.test/fhir';
export const TOKEN_URL = 'https://haven.test/auth/token';
export const TENANT: TenantId = asTenantId('default');

/** A clock the test moves by hand. */
export interface ManualClock extends Clock {
  advance(seconds: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return { now: () => new Date(t), advance: (s) => void (t += s * 1000) };
}

export interface ClientKeys {
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function clientKeys(alg: 'RS384' | 'ES384'): Promise<ClientKeys> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pub = await exportJWK(publicKey);
  const meta = { kid: await calculateJwkThumbprint(pub), alg };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...pub, ...meta } };
}

export interface AuthHarness {
  testDb: TestDb;
  clock: ManualClock;
  clients: ClientRegistry;
  keys: SigningKeyStore;
  endpoint: TokenEndpoint;
  verifier: TokenVerifier;
}

export async function createHarness(): Promise<AuthHarness> {
  const testDb = await createTestDb();
  const { db } = testDb;
  const clock = manualClock();
  const clients = createClientRegistry({ db });
  const keys = createSigningKeyStore({ db, clock });
  const endpoint = createTokenEndpoint({ db, clients, signingKeys: keys, issuer: ISSUER, audience: FHIR_BASE, clock });
  const verifier = createTokenVerifier({ issuer: ISSUER, audience: FHIR_BASE, keys, clock });
  return { testDb, clock, clients, keys, endpoint, verifier };
}

export function tokenForm(assertion: string, scope: string): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    scope,
  };
}
