import { setTimeout as sleep } from 'node:timers/promises';
import { HavenError, type Logger } from '../kernel/index.js';
import { packWrapped, unpackWrapped } from './cloud-wrapped.js';
import { callKms, field, kmsHttpError, type KmsHttpSettings, type KmsResponse } from './kms-http.js';
import type { KekRotation, Kms } from './kms.js';
import { bearerJsonRequest, cachedBearer, staticBearer, type BearerSource } from './kms-token.js';
import { googleServiceAccountToken, type ServiceAccountKey } from './oauth-token.js';

/**
 * Google Cloud KMS over REST v1. The KEK is a symmetric ENCRYPT_DECRYPT
 * CryptoKey; the Haven DEK context is sent as additionalAuthenticatedData,
 * which Cloud KMS binds to the ciphertext (decrypt with other AAD fails).
 *
 * Wrapped DEK: see cloud-wrapped.ts; the key reference is the CryptoKeyVersion
 * that encrypted it. Decrypt is sent to the CryptoKey (Cloud KMS finds the
 * version inside the ciphertext), so DEKs wrapped by older versions stay
 * readable while those versions are enabled.
 *
 * Rotation creates a new CryptoKeyVersion, wraps with that version explicitly,
 * and commit makes it the primary version (updatePrimaryVersion), which is
 * what a fresh process then uses.
 */
const WRAP_FORMAT = 0x47; // 'G'
const PROVIDER = 'GCP KMS';
export const GCP_KMS_SCOPE = 'https://www.googleapis.com/auth/cloudkms';

export interface GcpKmsOptions {
  /** projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k> */
  keyName: string;
  /** Default https://cloudkms.googleapis.com */
  endpoint?: string;
  credentials: { serviceAccount: ServiceAccountKey } | { accessToken: string };
  logger: Logger;
  http?: KmsHttpSettings;
}

const KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

function mapGcpError(what: string, bearer: BearerSource) {
  return (res: KmsResponse): HavenError | undefined => {
    const err = (res.json.error ?? {}) as Record<string, unknown>;
    if (res.status === 401) bearer.reset();
    if (res.status === 400 && err.status === 'INVALID_ARGUMENT' && what === 'decrypt') {
      return new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key failed authentication under the Cloud KMS key (damaged, altered or bound to another tenant/purpose)');
    }
    if (res.status === 400 && err.status === 'FAILED_PRECONDITION') {
      return new HavenError('unavailable', 'KMS_UNAVAILABLE', `${PROVIDER} ${what} failed: the key version is not enabled (${String(err.message ?? '')})`);
    }
    return res.status === 429 || res.status >= 500 ? undefined : kmsHttpError(PROVIDER, what, res);
  };
}

function client(o: GcpKmsOptions) {
  const endpoint = (o.endpoint ?? 'https://cloudkms.googleapis.com').replace(/\/+$/, '');
  const http = o.http ?? {};
  const creds = o.credentials;
  const bearer = 'accessToken' in creds ? staticBearer(creds.accessToken) : cachedBearer(() => googleServiceAccountToken(creds.serviceAccount, GCP_KMS_SCOPE, http));
  return async (method: 'GET' | 'POST', path: string, body: Record<string, unknown> | undefined, what: string, idempotent = true) =>
    callKms(
      PROVIDER,
      what,
      { ...http, idempotent },
      () => bearerJsonRequest(bearer, method, `${endpoint}/v1/${path}`, body),
      mapGcpError(what, bearer),
    );
}

/** Cloud KMS may generate a new version asynchronously (PENDING_GENERATION). */
async function waitEnabled(call: ReturnType<typeof client>, version: Record<string, unknown>): Promise<string> {
  const name = field(PROVIDER, version, 'name');
  for (let i = 0; version.state !== 'ENABLED'; i++) {
    if (i >= 20 || version.state !== 'PENDING_GENERATION') {
      throw new HavenError('unavailable', 'KMS_UNAVAILABLE', `${PROVIDER}: new key version ${name} is ${String(version.state)}, not ENABLED`);
    }
    await sleep(250);
    version = await call('GET', name, undefined, 'get key version');
  }
  return name;
}

export async function createGcpKms(o: GcpKmsOptions): Promise<Kms> {
  if (!KEY_NAME.test(o.keyName)) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `HAVEN_KMS_GCP_KEY must be projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>, not '${o.keyName}'`);
  }
  const call = client(o);
  const key = await call('GET', o.keyName, undefined, 'get key');
  if (key.purpose !== 'ENCRYPT_DECRYPT') throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${PROVIDER} key ${o.keyName} must have purpose ENCRYPT_DECRYPT`);
  let primary = field(PROVIDER, (key.primary ?? {}) as Record<string, unknown>, 'name');
  const aad = (context: Buffer) => context.toString('base64');

  async function encrypt(name: string, dek: Buffer, context: Buffer): Promise<Buffer> {
    const res = await call('POST', `${name}:encrypt`, { plaintext: dek.toString('base64'), additionalAuthenticatedData: aad(context) }, 'encrypt');
    return packWrapped(WRAP_FORMAT, field(PROVIDER, res, 'name'), Buffer.from(field(PROVIDER, res, 'ciphertext'), 'base64'));
  }

  return {
    // The explicit primary version, so the stored key reference and describe() agree.
    wrap: (dek, context) => encrypt(primary, dek, context),
    async unwrap(wrapped, context) {
      const { keyRef, blob } = unpackWrapped(PROVIDER, WRAP_FORMAT, wrapped);
      const keyName = keyRef.replace(/\/cryptoKeyVersions\/[^/]+$/, '');
      const res = await call('POST', `${keyName}:decrypt`, { ciphertext: blob.toString('base64'), additionalAuthenticatedData: aad(context) }, 'decrypt');
      return Buffer.from(field(PROVIDER, res, 'plaintext'), 'base64');
    },
    describe: () => ({ provider: 'gcp-kms', kekId: `gcp-kms:${primary}`, detail: `Cloud KMS key ${o.keyName}` }),
    async beginRotation(): Promise<KekRotation> {
      const next = await waitEnabled(call, await call('POST', `${o.keyName}/cryptoKeyVersions`, {}, 'create key version', false));
      return {
        kekId: `gcp-kms:${next}`,
        wrap: (dek, context) => encrypt(next, dek, context),
        async commit() {
          const id = next.split('/').pop()!;
          await call('POST', `${o.keyName}:updatePrimaryVersion`, { cryptoKeyVersionId: id }, 'update primary version');
          o.logger.info({ from: `gcp-kms:${primary}`, to: `gcp-kms:${next}` }, 'Cloud KMS KEK rotated; keep the old key version enabled for old backups');
          primary = next;
        },
        async abort() {
          o.logger.warn({ kekId: `gcp-kms:${next}` }, 'Cloud KMS KEK rotation failed; the new key version is kept but not primary');
        },
      };
    },
    async close() {
      /* stateless HTTP */
    },
  };
}
