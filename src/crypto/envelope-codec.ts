import { HavenError } from '../kernel/index.js';
import { contextOf, openEnvelope, parseEnvelopeHeader, sealEnvelope } from './envelope-format.js';
import type { Keyring } from './keyring.js';

/** The row a body belongs to; the same shape as the store's RowIdentity (crypto/ does not import store/). */
export interface EnvelopeRowIdentity {
  tenant: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/** Structurally a store BodyCodec. */
export interface EnvelopeCodec {
  encode(identity: EnvelopeRowIdentity, json: string): Promise<Buffer>;
  /** The JSON at once while the key is in memory (most reads), else a promise; failures always reject, never throw. */
  decode(identity: EnvelopeRowIdentity, bytes: Buffer): string | Promise<string>;
}

const rowContext = (r: EnvelopeRowIdentity) => contextOf('haven/resource/v1', [r.tenant, r.resourceType, r.id, r.versionId]);
const label = (r: EnvelopeRowIdentity) => `${r.resourceType}/${r.id}/_history/${r.versionId}`;

/**
 * AES-256-GCM envelope encryption of resource bodies (current and history)
 * with the tenant's `resources` DEK. The row identity is associated data, so
 * ciphertext copied to another row, version or tenant fails to decrypt.
 */
export function createEnvelopeCodec(options: { keyring: Keyring }): EnvelopeCodec {
  const { keyring } = options;
  return {
    encode(identity, json) {
      const plaintext = Buffer.from(json, 'utf8');
      return keyring.withActiveKey(identity.tenant, 'resources', (key, ref) => {
        try {
          return sealEnvelope(key, { purpose: 'resources', keyVersion: ref.version }, plaintext, rowContext(identity));
        } finally {
          plaintext.fill(0); // do not leave the PHI copy for the garbage collector
        }
      });
    },
    decode(identity, bytes) {
      // The label is for error messages only: built lazily, not on every read.
      // Not async: the key ring's promise is returned as it is, one promise per read less.
      const where = () => `Resource ${label(identity)}`;
      let head;
      try {
        head = parseEnvelopeHeader(bytes, where);
      } catch (err) {
        return Promise.reject(err);
      }
      if (head.purpose !== 'resources') {
        return Promise.reject(new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where()}: stored ciphertext was sealed for '${head.purpose}', not for resources`));
      }
      const open = (key: Buffer) => {
        const plain = openEnvelope(key, bytes, rowContext(identity), where);
        const json = plain.toString('utf8');
        plain.fill(0);
        return json;
      };
      // At once while the key is cached: no promise for the key ring and none for the caller's await of it.
      return keyring.useKey({ tenant: identity.tenant, purpose: 'resources', version: head.keyVersion }, open);
    },
  };
}

/**
 * Re-encrypts one stored resource body under `toVersion` of the tenant's
 * `resources` DEK (DEK rotation): authenticated with the old key and the row
 * identity first, so a damaged row is never silently re-sealed.
 */
export async function resealResource(keyring: Keyring, identity: EnvelopeRowIdentity, bytes: Buffer, toVersion: number): Promise<Buffer> {
  const where = `Resource ${label(identity)}`;
  const head = parseEnvelopeHeader(bytes, where);
  if (head.purpose !== 'resources') {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: stored ciphertext was sealed for '${head.purpose}', not for resources`);
  }
  const context = rowContext(identity);
  const plain = await keyring.withKey({ tenant: identity.tenant, purpose: 'resources', version: head.keyVersion }, (key) => openEnvelope(key, bytes, context, where));
  try {
    return await keyring.withKey({ tenant: identity.tenant, purpose: 'resources', version: toVersion }, (key) =>
      sealEnvelope(key, { purpose: 'resources', keyVersion: toVersion }, plain, context),
    );
  } finally {
    plain.fill(0);
  }
}
