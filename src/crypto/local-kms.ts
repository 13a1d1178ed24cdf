import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HavenError, type Logger } from '../kernel/index.js';
import { DEK_BYTES, type KekRotation, type Kms } from './kms.js';

/**
 * Development KMS: the KEK is a 256-bit key in `<dataDir>/keys/kek.key`
 * (mode 0600, created on first start). Anyone who can read that file and the
 * database can read every resource, so it is refused in production.
 * Retired KEKs stay beside it as `kek-<fingerprint>.key` after rotation.
 *
 * Wrapped DEK: 0x4c ('L') | KEK fingerprint (8) | nonce (12) | ciphertext (32) | tag (16).
 */
const WRAP_FORMAT = 0x4c;
const FP_BYTES = 8;
const CURRENT = 'kek.key';

export interface LocalKmsOptions {
  dataDir: string;
  env: 'development' | 'production' | 'test';
  logger: Logger;
}

const fingerprint = (key: Buffer) => createHash('sha256').update('haven-kek-fingerprint').update(key).digest().subarray(0, FP_BYTES);

function readKey(path: string): Buffer {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `Local KEK file ${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const key = readFileSync(path);
  if (key.length !== 32) {
    key.fill(0);
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `Local KEK file ${path} must hold exactly 32 bytes`);
  }
  return key;
}

function writeKeyFile(path: string, key: Buffer): void {
  writeFileSync(path, key, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

function gcm(key: Buffer, fp: Buffer, dek: Buffer, context: Buffer): Buffer {
  const head = Buffer.concat([Buffer.of(WRAP_FORMAT), fp]);
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.concat([head, context]));
  return Buffer.concat([head, nonce, c.update(dek), c.final(), c.getAuthTag()]);
}

export function createLocalKms(options: LocalKmsOptions): Kms {
  if (options.env === 'production') {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', 'HAVEN_KMS=local is refused when HAVEN_ENV=production: configure an HSM or cloud KMS (HAVEN_KMS=pkcs11)');
  }
  const dir = join(options.dataDir, 'keys');
  const keys = new Map<string, Buffer>(); // fingerprint hex → KEK
  let current: Buffer = Buffer.alloc(0);

  function load(): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, CURRENT);
    let created = false;
    try {
      statSync(path);
    } catch {
      const fresh = randomBytes(32);
      writeKeyFile(path, fresh);
      fresh.fill(0);
      created = true;
    }
    for (const name of readdirSync(dir).filter((n) => /^kek(-[0-9a-f]{16})?\.key$/.test(n))) {
      const key = readKey(join(dir, name));
      const fp = fingerprint(key).toString('hex');
      if (keys.has(fp)) key.fill(0);
      else keys.set(fp, key);
      if (name === CURRENT) current = keys.get(fp)!;
    }
    const msg = 'LOCAL KEY FILE IN USE: the key-encryption key is a plain file on this machine. For development only; production needs an HSM or KMS (HAVEN_KMS=pkcs11).';
    if (created) options.logger.warn({ file: path, kekId: kekId() }, `${msg} A new KEK was created.`);
    else options.logger.warn({ file: path, kekId: kekId() }, msg);
  }
  const kekId = () => `local:${fingerprint(current).toString('hex')}`;
  let loaded = false;
  const ensure = () => {
    if (!loaded) load();
    loaded = true;
  };

  function keyFor(wrapped: Buffer): Buffer {
    const fp = wrapped.subarray(1, 1 + FP_BYTES).toString('hex');
    if (!keys.has(fp)) {
      // A rotation by another process may have added a KEK since we loaded.
      loaded = false;
      ensure();
    }
    const key = keys.get(fp);
    if (!key) throw new HavenError('fault', 'KMS_KEK_NOT_FOUND', `The local KEK local:${fp} that wrapped this data key is not in ${dir}`);
    return key;
  }

  return {
    async wrap(dek, context) {
      ensure();
      return gcm(current, fingerprint(current), dek, context);
    },
    async unwrap(wrapped, context) {
      ensure();
      if (wrapped[0] !== WRAP_FORMAT || wrapped.length !== 1 + FP_BYTES + 12 + DEK_BYTES + 16) {
        throw new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key is not in the local KMS format');
      }
      const key = keyFor(wrapped);
      try {
        const d = createDecipheriv('aes-256-gcm', key, wrapped.subarray(1 + FP_BYTES, 1 + FP_BYTES + 12));
        d.setAAD(Buffer.concat([wrapped.subarray(0, 1 + FP_BYTES), context]));
        d.setAuthTag(wrapped.subarray(wrapped.length - 16));
        return Buffer.concat([d.update(wrapped.subarray(1 + FP_BYTES + 12, wrapped.length - 16)), d.final()]);
      } catch {
        throw new HavenError('fault', 'KMS_UNWRAP_FAILED', 'A wrapped data key failed authentication under the local KEK (damaged or altered)');
      }
    },
    describe() {
      ensure();
      return { provider: 'local', kekId: kekId(), detail: `key file ${join(dir, CURRENT)}` };
    },
    async beginRotation(): Promise<KekRotation> {
      ensure();
      const next = randomBytes(32);
      const fp = fingerprint(next).toString('hex');
      const pending = join(dir, `kek-${fp}.key`);
      writeKeyFile(pending, next);
      keys.set(fp, next);
      return {
        kekId: `local:${fp}`,
        wrap: async (dek, context) => gcm(next, fingerprint(next), dek, context),
        async commit() {
          const old = join(dir, `kek-${fingerprint(current).toString('hex')}.key`);
          // Order matters: the old KEK gets its retired name before the new one takes kek.key,
          // so a crash in between leaves every KEK findable by fingerprint.
          renameSync(join(dir, CURRENT), old);
          renameSync(pending, join(dir, CURRENT));
          current = next;
          options.logger.info({ kekId: `local:${fp}`, retired: old }, 'local KEK rotated; the retired KEK is kept for old backups');
        },
        async abort() {
          // Kept, not deleted: if only the COMMIT acknowledgement was lost, DEKs are wrapped by it.
          options.logger.warn({ kekId: `local:${fp}`, file: pending }, 'KEK rotation failed; the new KEK file is kept');
        },
      };
    },
    async close() {
      for (const k of keys.values()) k.fill(0);
      keys.clear();
      loaded = false;
    },
  };
}
