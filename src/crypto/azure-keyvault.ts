import { createHmac, timingSafeEqual } from 'node:crypto';
import { HavenError, type Logger } from '../kernel/index.js';
import { packWrapped, unpackWrapped } from './cloud-wrapped.js';
import { callKms, field, kmsHttpError, type KmsHttpSettings, type KmsResponse } from './kms-http.js';
import { DEK_BYTES, type KekRotation, type Kms } from './kms.js';
import { bearerJsonRequest, cachedBearer, staticBearer, type BearerSource } from './kms-token.js';
import { entraClientCredentialsToken, type ClientCredentials } from './oauth-token.js';

/**
 * Azure Key Vault keys over REST (api-version 7.4): wrapkey/unwrapkey with
 * RSA-OAEP-256 under an RSA key version that stays in the vault.
 *
 * Key Vault's wrapkey has no associated data, so Haven binds the DEK context
 * itself: what Key Vault wraps is DEK ‖ HMAC-SHA256(key = DEK, BIND_LABEL ‖ context).
 * RSA-OAEP is non-malleable, so nobody without the vault's private key can
 * change the tag inside; a wrapped DEK copied to another tenant's or purpose's
 * row unwraps to a tag that does not match that row's context and is refused.
 * (RSA wrapping is public-key: someone holding the public key AND write access
 * to the database could plant a DEK they chose. docs/security/encryption.md says so.)
 *
 * Wrapped DEK: see cloud-wrapped.ts; the key reference is the full key id
 * (https://<vault>/keys/<name>/<version>), so old versions still unwrap after rotation.
 * Rotation creates a new key version (keys/<name>/create) and wraps with it; once
 * created it is the version a fresh process picks up.
 */
const WRAP_FORMAT = 0x5a; // 'Z'
const PROVIDER = 'Azure Key Vault';
const API = 'api-version=7.4';
const ALG = 'RSA-OAEP-256';
const BIND_LABEL = Buffer.from('haven-azure-dek-binding:v1|', 'utf8');
export const AZURE_VAULT_SCOPE = 'https://vault.azure.net/.default';

export interface AzureKeyVaultOptions {
  /** https://<vault>.vault.azure.net */
  vaultUrl: string;
  keyName: string;
  credentials: ClientCredentials | { accessToken: string };
  logger: Logger;
  http?: KmsHttpSettings;
}

const tagOf = (dek: Buffer, context: Buffer) => createHmac('sha256', dek).update(BIND_LABEL).update(context).digest();

function mapAzureError(what: string, bearer: BearerSource) {
  return (res: KmsResponse): HavenError | undefined => {
    if (res.status === 401) bearer.reset();
    if (res.status === 400 && what === 'unwrapkey') {
      return new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key was refused by Azure Key Vault unwrapkey (damaged or altered)');
    }
    return res.status === 429 || res.status >= 500 ? undefined : kmsHttpError(PROVIDER, what, res);
  };
}

function client(o: AzureKeyVaultOptions) {
  const http = o.http ?? {};
  const creds = o.credentials;
  const bearer = 'accessToken' in creds ? staticBearer(creds.accessToken) : cachedBearer(() => entraClientCredentialsToken(creds, AZURE_VAULT_SCOPE, http));
  return async (method: 'GET' | 'POST', url: string, body: Record<string, unknown> | undefined, what: string, idempotent = true) =>
    callKms(
      PROVIDER,
      what,
      { ...http, idempotent },
      () => bearerJsonRequest(bearer, method, `${url}?${API}`, body),
      mapAzureError(what, bearer),
    );
}

function keyIdOf(bundle: Record<string, unknown>): { kid: string; kty: string; bits: number } {
  const key = (bundle.key ?? {}) as Record<string, unknown>;
  const kid = field(PROVIDER, key, 'kid');
  const kty = field(PROVIDER, key, 'kty');
  if (kty !== 'RSA' && kty !== 'RSA-HSM') throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${PROVIDER} key ${kid} must be an RSA or RSA-HSM key (is ${kty})`);
  const attrs = (bundle.attributes ?? {}) as Record<string, unknown>;
  if (attrs.enabled === false) throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${PROVIDER} key ${kid} is disabled`);
  return { kid, kty, bits: Buffer.from(typeof key.n === 'string' ? key.n : '', 'base64url').length * 8 || 3072 };
}

export async function createAzureKeyVaultKms(o: AzureKeyVaultOptions): Promise<Kms> {
  const vault = o.vaultUrl.replace(/\/+$/, '');
  const call = client(o);
  const keyUrl = `${vault}/keys/${encodeURIComponent(o.keyName)}`;
  let current = keyIdOf(await call('GET', keyUrl, undefined, 'get key'));

  async function wrapWith(kid: string, dek: Buffer, context: Buffer): Promise<Buffer> {
    const inner = Buffer.concat([dek, tagOf(dek, context)]);
    try {
      const res = await call('POST', `${kid}/wrapkey`, { alg: ALG, value: inner.toString('base64url') }, 'wrapkey');
      return packWrapped(WRAP_FORMAT, field(PROVIDER, res, 'kid'), Buffer.from(field(PROVIDER, res, 'value'), 'base64url'));
    } finally {
      inner.fill(0);
    }
  }

  return {
    wrap: (dek, context) => wrapWith(current.kid, dek, context),
    async unwrap(wrapped, context) {
      const { keyRef, blob } = unpackWrapped(PROVIDER, WRAP_FORMAT, wrapped);
      if (!keyRef.startsWith(`${vault}/keys/`)) throw new HavenError('fault', 'KMS_KEK_NOT_FOUND', `${PROVIDER}: this data key was wrapped by ${keyRef}, which is not in ${vault}`);
      const res = await call('POST', `${keyRef}/unwrapkey`, { alg: ALG, value: blob.toString('base64url') }, 'unwrapkey');
      const inner = Buffer.from(field(PROVIDER, res, 'value'), 'base64url');
      const dek = Buffer.from(inner.subarray(0, DEK_BYTES));
      const tag = inner.subarray(DEK_BYTES);
      const ok = inner.length === DEK_BYTES + 32 && timingSafeEqual(tag, tagOf(dek, context));
      inner.fill(0);
      if (!ok) {
        dek.fill(0);
        throw new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key does not belong to this tenant/purpose (Key Vault context binding failed)');
      }
      return dek;
    },
    describe: () => ({ provider: 'azure-keyvault', kekId: `azure-keyvault:${current.kid}`, detail: `Key Vault key ${o.keyName} in ${vault}` }),
    async beginRotation(): Promise<KekRotation> {
      const next = keyIdOf(await call('POST', `${keyUrl}/create`, { kty: current.kty, key_size: current.bits, key_ops: ['wrapKey', 'unwrapKey'] }, 'create key version', false));
      return {
        kekId: `azure-keyvault:${next.kid}`,
        wrap: (dek, context) => wrapWith(next.kid, dek, context),
        async commit() {
          o.logger.info({ from: `azure-keyvault:${current.kid}`, to: `azure-keyvault:${next.kid}` }, 'Key Vault KEK rotated; keep the old key version enabled for old backups');
          current = next;
        },
        async abort() {
          o.logger.warn({ kekId: `azure-keyvault:${next.kid}` }, 'Key Vault KEK rotation failed; the new key version exists and is the latest, old versions stay usable');
        },
      };
    },
    async close() {
      /* stateless HTTP */
    },
  };
}
