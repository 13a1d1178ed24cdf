import { HavenError, type Logger } from '../kernel/index.js';
import { packWrapped, unpackWrapped } from './cloud-wrapped.js';
import { callKms, field, kmsHttpError, type KmsHttpSettings, type KmsResponse } from './kms-http.js';
import type { KekRotation, Kms } from './kms.js';

/**
 * HashiCorp Vault (or OpenBao) Transit secrets engine. The KEK is a named
 * transit key of an AEAD type; the Haven DEK context is sent as
 * `associated_data` (Vault 1.13+, AES-GCM and ChaCha20-Poly1305 keys), which
 * Vault authenticates with the ciphertext. For keys created with
 * `derived=true` the context also goes in `context`, so each tenant/purpose
 * gets its own derived key.
 *
 * Wrapped DEK: see cloud-wrapped.ts; the key reference is <mount>/<key>, the
 * Vault ciphertext (`vault:vN:…`) names the key version, so old versions
 * decrypt after rotation until min_decryption_version is raised past them.
 */
const WRAP_FORMAT = 0x56; // 'V'
const PROVIDER = 'Vault Transit';
const AEAD_TYPES = new Set(['aes128-gcm96', 'aes256-gcm96', 'chacha20-poly1305']);

export interface VaultTransitOptions {
  /** VAULT_ADDR, e.g. https://vault.example.org:8200 */
  address: string;
  token: string;
  namespace?: string;
  /** Mount path of the transit engine (default 'transit'). */
  mount?: string;
  keyName: string;
  logger: Logger;
  http?: KmsHttpSettings;
}

function mapVaultError(what: string) {
  return (res: KmsResponse): HavenError | undefined => {
    const reason = Array.isArray(res.json.errors) ? (res.json.errors as unknown[]).join('; ') : '';
    if (res.status === 400 && what === 'decrypt') {
      if (/disallowed by policy|min_decryption_version/i.test(reason)) {
        return new HavenError('fault', 'KMS_KEK_NOT_FOUND', `${PROVIDER}: the key version that wrapped this data key is below min_decryption_version (${reason})`);
      }
      return new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key failed authentication under the Vault transit key (damaged, altered or bound to another tenant/purpose)');
    }
    return res.status === 429 || res.status >= 500 ? undefined : kmsHttpError(PROVIDER, what, res);
  };
}

function client(o: VaultTransitOptions) {
  const base = `${o.address.replace(/\/+$/, '')}/v1/${o.mount ?? 'transit'}`;
  return async (method: 'GET' | 'POST', path: string, body: Record<string, unknown> | undefined, what: string, idempotent = true) => {
    const res = await callKms(
      PROVIDER,
      what,
      { ...o.http, idempotent },
      async () => ({
        method,
        url: `${base}/${path}`,
        headers: { 'X-Vault-Token': o.token, ...(o.namespace ? { 'X-Vault-Namespace': o.namespace } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }),
      mapVaultError(what),
    );
    return (res.data ?? {}) as Record<string, unknown>;
  };
}

async function readKey(call: ReturnType<typeof client>, name: string): Promise<{ latest: number; derived: boolean }> {
  const data = await call('GET', `keys/${encodeURIComponent(name)}`, undefined, 'read key');
  if (!AEAD_TYPES.has(String(data.type))) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${PROVIDER} key ${name} is of type ${String(data.type)}; Haven needs an AEAD key (aes256-gcm96, aes128-gcm96 or chacha20-poly1305) for associated_data`);
  }
  const latest = Number(data.latest_version);
  if (!Number.isInteger(latest) || latest < 1) throw new HavenError('fault', 'KMS_REQUEST_FAILED', `${PROVIDER} answered without latest_version`);
  return { latest, derived: data.derived === true };
}

export async function createVaultTransitKms(o: VaultTransitOptions): Promise<Kms> {
  const call = client(o);
  const name = encodeURIComponent(o.keyName);
  const ref = `${o.mount ?? 'transit'}/${o.keyName}`;
  const key = await readKey(call, o.keyName);
  let version = key.latest;
  const bind = (context: Buffer) => ({ associated_data: context.toString('base64'), ...(key.derived ? { context: context.toString('base64') } : {}) });
  const kekId = (v: number) => `vault-transit:${ref}:v${v}`;

  async function encrypt(v: number, dek: Buffer, context: Buffer): Promise<Buffer> {
    const data = await call('POST', `encrypt/${name}`, { plaintext: dek.toString('base64'), key_version: v, ...bind(context) }, 'encrypt');
    return packWrapped(WRAP_FORMAT, ref, Buffer.from(field(PROVIDER, data, 'ciphertext'), 'utf8'));
  }

  return {
    wrap: (dek, context) => encrypt(version, dek, context),
    async unwrap(wrapped, context) {
      const { keyRef, blob } = unpackWrapped(PROVIDER, WRAP_FORMAT, wrapped);
      if (keyRef !== ref) throw new HavenError('fault', 'KMS_KEK_NOT_FOUND', `${PROVIDER}: this data key was wrapped by transit key ${keyRef}, not ${ref}`);
      const data = await call('POST', `decrypt/${name}`, { ciphertext: blob.toString('utf8'), ...bind(context) }, 'decrypt');
      return Buffer.from(field(PROVIDER, data, 'plaintext'), 'base64');
    },
    describe: () => ({ provider: 'vault-transit', kekId: kekId(version), detail: `transit key ${ref} at ${o.address}` }),
    async beginRotation(): Promise<KekRotation> {
      // Vault makes the new version the latest at once; this process keeps wrapping with the old one until commit.
      await call('POST', `keys/${name}/rotate`, {}, 'rotate key', false);
      const next = (await readKey(call, o.keyName)).latest;
      return {
        kekId: kekId(next),
        wrap: (dek, context) => encrypt(next, dek, context),
        async commit() {
          o.logger.info({ from: kekId(version), to: kekId(next) }, 'Vault transit KEK rotated; keep min_decryption_version at or below the old version for old backups');
          version = next;
        },
        async abort() {
          o.logger.warn({ kekId: kekId(next) }, 'Vault transit KEK rotation failed; the new key version exists, older versions stay usable');
        },
      };
    },
    async close() {
      /* stateless HTTP */
    },
  };
}
