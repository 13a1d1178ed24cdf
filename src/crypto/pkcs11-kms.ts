import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { HavenError, type Logger } from '../kernel/index.js';
import type { KekRotation, Kms } from './kms.js';

/**
 * KMS on a PKCS#11 token (HSM; SoftHSM2 in tests). The KEK is an AES-256
 * secret-key object that is sensitive and non-extractable: it never leaves
 * the token. DEKs are wrapped with CKM_AES_GCM inside the token.
 *
 * Wrapped DEK: 0x50 ('P') | id length (1) | KEK CKA_ID | nonce (12) | ciphertext (32) | tag (16).
 * Unwrap finds the KEK by its CKA_ID, so retired KEKs still unwrap after rotation.
 */
const WRAP_FORMAT = 0x50;

export interface Pkcs11KmsOptions {
  library: string;
  /** Index into the list of slots with a token, or */
  slot?: number;
  /** the token's label (preferred: stable across re-initialisation). */
  tokenLabel?: string;
  pin: string;
  kekLabel: string;
  logger: Logger;
}

type Lib = typeof Pkcs11Types;
type Handle = Buffer;

function unavailable(what: string, err: unknown): HavenError {
  // PKCS#11 messages carry return-value names only (CKR_*), never key material.
  const reason = err instanceof Error ? err.message : String(err);
  return new HavenError('unavailable', 'KMS_UNAVAILABLE', `HSM (PKCS#11) ${what} failed: ${reason}`, { cause: reason });
}

function loadBinding(): Lib {
  try {
    return createRequire(import.meta.url)('pkcs11js') as Lib;
  } catch (err) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `HAVEN_KMS=pkcs11 needs the pkcs11js module, which could not be loaded: ${(err as Error).message}`);
  }
}

function openSession(lib: Lib, p: Pkcs11Types.PKCS11, o: Pkcs11KmsOptions): Handle {
  const slots = p.C_GetSlotList(true);
  let slot: Handle | undefined;
  if (o.tokenLabel !== undefined) slot = slots.find((s) => p.C_GetTokenInfo(s).label.trim() === o.tokenLabel);
  else if (o.slot !== undefined) slot = slots[o.slot];
  if (!slot) {
    const which = o.tokenLabel !== undefined ? `token labelled '${o.tokenLabel}'` : `slot index ${o.slot ?? '(none given)'}`;
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `PKCS#11: no ${which} among ${slots.length} slot(s) with a token (HAVEN_PKCS11_TOKEN_LABEL / HAVEN_PKCS11_SLOT)`);
  }
  const session = p.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
  try {
    p.C_Login(session, lib.CKU_USER, o.pin);
  } catch (err) {
    if ((err as { code?: number }).code !== lib.CKR_USER_ALREADY_LOGGED_IN) {
      throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `PKCS#11 login to the token failed (check HAVEN_PKCS11_PIN): ${(err as Error).message}`);
    }
  }
  return session;
}

function findKeys(lib: Lib, p: Pkcs11Types.PKCS11, session: Handle, template: Pkcs11Types.Template): Handle[] {
  p.C_FindObjectsInit(session, [{ type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY }, ...template]);
  try {
    return p.C_FindObjects(session, 16);
  } finally {
    p.C_FindObjectsFinal(session);
  }
}

function generateKek(lib: Lib, p: Pkcs11Types.PKCS11, session: Handle, label: string, id: Buffer): Handle {
  return p.C_GenerateKey(session, { mechanism: lib.CKM_AES_KEY_GEN }, [
    { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
    { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
    { type: lib.CKA_VALUE_LEN, value: 32 },
    { type: lib.CKA_TOKEN, value: true },
    { type: lib.CKA_PRIVATE, value: true },
    { type: lib.CKA_SENSITIVE, value: true },
    { type: lib.CKA_EXTRACTABLE, value: false },
    { type: lib.CKA_MODIFIABLE, value: true },
    { type: lib.CKA_ENCRYPT, value: true },
    { type: lib.CKA_DECRYPT, value: true },
    { type: lib.CKA_LABEL, value: label },
    { type: lib.CKA_ID, value: id },
  ]);
}

// A PKCS#11 library is initialised once per process (C_Initialize/C_Finalize are
// process-wide), so adapters on the same library share it, counted by reference.
const libraries = new Map<string, { p: Pkcs11Types.PKCS11; refs: number }>();

function acquire(lib: Lib, path: string): Pkcs11Types.PKCS11 {
  const known = libraries.get(path);
  if (known) {
    known.refs++;
    return known.p;
  }
  const p = new lib.PKCS11();
  try {
    p.load(path);
  } catch (err) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `PKCS#11 library ${path} could not be loaded (HAVEN_PKCS11_LIBRARY): ${(err as Error).message}`);
  }
  try {
    p.C_Initialize();
  } catch (err) {
    if ((err as { code?: number }).code !== lib.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw unavailable('start', err);
  }
  libraries.set(path, { p, refs: 1 });
  return p;
}

function release(path: string): void {
  const known = libraries.get(path);
  if (!known || --known.refs > 0) return;
  libraries.delete(path);
  try {
    known.p.C_Finalize(); // also logs out and closes every session
  } catch {
    /* finalising anyway */
  }
  known.p.close();
}

export async function createPkcs11Kms(o: Pkcs11KmsOptions): Promise<Kms> {
  const lib = loadBinding();
  const p = acquire(lib, o.library);
  let session: Handle | undefined;
  try {
    session = openSession(lib, p, o);
    return adapter(lib, p, session, o);
  } catch (err) {
    if (session) p.C_CloseSession(session);
    release(o.library);
    throw err instanceof HavenError ? err : unavailable('start', err);
  }
}

function adapter(lib: Lib, p: Pkcs11Types.PKCS11, session: Handle, o: Pkcs11KmsOptions): Kms {
  const attr = (h: Handle, type: number) => p.C_GetAttributeValue(session, h, [{ type }])[0]!.value as Buffer;
  const byLabel = findKeys(lib, p, session, [{ type: lib.CKA_LABEL, value: o.kekLabel }]);
  if (byLabel.length > 1) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `PKCS#11: ${byLabel.length} secret keys are labelled '${o.kekLabel}'; the KEK label must be unique`);
  }
  let kek: Handle;
  if (byLabel[0]) kek = byLabel[0];
  else {
    kek = generateKek(lib, p, session, o.kekLabel, randomBytes(8));
    o.logger.info({ kekLabel: o.kekLabel }, 'PKCS#11: created a new non-extractable AES-256 KEK on the token');
  }
  let kekId = Buffer.from(attr(kek, lib.CKA_ID));
  const handles = new Map<string, Handle>([[kekId.toString('hex'), kek]]);

  function gcm(id: Buffer, iv: Buffer, context: Buffer) {
    const head = Buffer.concat([Buffer.of(WRAP_FORMAT, id.length), id]);
    const aad = Buffer.concat([head, context]);
    return { head, mechanism: { mechanism: lib.CKM_AES_GCM, parameter: { type: lib.CK_PARAMS_AES_GCM, iv, ivBits: 96, tagBits: 128, aad } } };
  }
  function wrapWith(key: Handle, id: Buffer, dek: Buffer, context: Buffer): Buffer {
    const iv = randomBytes(12);
    const { head, mechanism } = gcm(id, iv, context);
    try {
      p.C_EncryptInit(session, mechanism, key);
      return Buffer.concat([head, iv, p.C_Encrypt(session, dek, Buffer.alloc(dek.length + 16))]);
    } catch (err) {
      throw unavailable('wrap', err);
    }
  }
  function handleFor(id: Buffer): Handle {
    const known = handles.get(id.toString('hex'));
    if (known) return known;
    let found: Handle[];
    try {
      found = findKeys(lib, p, session, [{ type: lib.CKA_ID, value: id }]);
    } catch (err) {
      throw unavailable('key lookup', err);
    }
    if (found.length !== 1) throw new HavenError('fault', 'KMS_KEK_NOT_FOUND', `PKCS#11: the KEK with id ${id.toString('hex')} that wrapped this data key is not on the token`);
    handles.set(id.toString('hex'), found[0]!);
    return found[0]!;
  }
  const describe = () => ({ provider: 'pkcs11', kekId: `pkcs11:${kekId.toString('hex')}`, detail: `token KEK '${o.kekLabel}' via ${o.library}` });

  return {
    async wrap(dek, context) {
      return wrapWith(kek, kekId, dek, context);
    },
    async unwrap(wrapped, context) {
      const idLen = wrapped[1] ?? 0;
      if (wrapped[0] !== WRAP_FORMAT || wrapped.length !== 2 + idLen + 12 + 32 + 16) {
        throw new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key is not in the PKCS#11 KMS format');
      }
      const id = wrapped.subarray(2, 2 + idLen);
      const key = handleFor(id);
      const { mechanism } = gcm(id, wrapped.subarray(2 + idLen, 14 + idLen), context);
      try {
        p.C_DecryptInit(session, mechanism, key);
        return Buffer.from(p.C_Decrypt(session, wrapped.subarray(14 + idLen), Buffer.alloc(wrapped.length)));
      } catch (err) {
        const code = (err as { code?: number }).code;
        // SoftHSM reports a failed GCM tag as CKR_GENERAL_ERROR; device and session trouble have their own codes.
        if (code === lib.CKR_ENCRYPTED_DATA_INVALID || code === lib.CKR_ENCRYPTED_DATA_LEN_RANGE || code === lib.CKR_GENERAL_ERROR) {
          throw new HavenError('fault', 'KMS_UNWRAP_FAILED', `A wrapped data key failed authentication under the HSM KEK (damaged or altered): ${(err as Error).message}`);
        }
        throw unavailable('unwrap', err);
      }
    },
    describe,
    async beginRotation(): Promise<KekRotation> {
      const id = randomBytes(8);
      const pendingLabel = `${o.kekLabel}.pending`;
      let next: Handle;
      try {
        next = generateKek(lib, p, session, pendingLabel, id);
      } catch (err) {
        throw unavailable('KEK generation', err);
      }
      handles.set(id.toString('hex'), next);
      return {
        kekId: `pkcs11:${id.toString('hex')}`,
        wrap: async (dek, context) => wrapWith(next, id, dek, context),
        async commit() {
          // Relabel, never delete: the retired KEK still opens pre-rotation backups.
          try {
            p.C_SetAttributeValue(session, kek, [{ type: lib.CKA_LABEL, value: `${o.kekLabel}.retired.${kekId.toString('hex')}` }]);
            p.C_SetAttributeValue(session, next, [{ type: lib.CKA_LABEL, value: o.kekLabel }]);
          } catch (err) {
            throw unavailable('KEK relabel (DEKs are already re-wrapped; run the rotation again to finish)', err);
          }
          kek = next;
          kekId = id;
          o.logger.info({ kekId: `pkcs11:${id.toString('hex')}` }, 'PKCS#11 KEK rotated; the retired KEK stays on the token');
        },
        async abort() {
          // Kept, not destroyed: if only the COMMIT acknowledgement was lost, DEKs are wrapped by it.
          o.logger.warn({ kekId: `pkcs11:${id.toString('hex')}` }, `KEK rotation failed; the new KEK stays on the token labelled ${pendingLabel}`);
        },
      };
    },
    async close() {
      try {
        p.C_CloseSession(session);
      } catch {
        /* closing anyway */
      }
      release(o.library);
    },
  };
}
