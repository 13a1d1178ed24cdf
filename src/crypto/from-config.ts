import { resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { HavenError, type Clock, type Logger } from '../kernel/index.js';
import { createCloudKms } from './cloud-kms-config.js';
import type { SqlDb } from './data-key-store.js';
import { createEnvelopeCodec, type EnvelopeCodec } from './envelope-codec.js';
import { createKeyring, type Keyring } from './keyring.js';
import type { Kms } from './kms.js';
import { createLocalKms } from './local-kms.js';
import { createPkcs11Kms } from './pkcs11-kms.js';

/**
 * Builds the configured KMS adapter (eagerly: a bad setting fails the start).
 * `env` supplies the cloud vendors' standard credential variables.
 */
export async function createKmsFromConfig(config: HavenConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Kms> {
  const log = logger.child({ component: 'kms' });
  const provider = config.kms.provider;
  if (provider === 'local') {
    const kms = createLocalKms({ dataDir: resolve(config.dataDir), env: config.env, logger: log });
    kms.describe(); // creates or loads the key file now, with its warning
    return kms;
  }
  if (provider !== 'pkcs11') return createCloudKms(provider, config, log, env);
  const p = config.kms.pkcs11;
  if (!p.library || p.pin === undefined) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', 'HAVEN_KMS=pkcs11 needs HAVEN_PKCS11_LIBRARY and HAVEN_PKCS11_PIN');
  }
  return createPkcs11Kms({
    library: p.library,
    pin: p.pin,
    kekLabel: p.kekLabel,
    logger: log,
    ...(p.tokenLabel !== undefined ? { tokenLabel: p.tokenLabel } : {}),
    ...(p.slot !== undefined ? { slot: p.slot } : {}),
  });
}

/**
 * A KMS whose adapter is created on first use, so the synchronous composition
 * root can wire it; `start()` creates it eagerly at server start.
 */
export function lazyKms(create: () => Promise<Kms>): Kms & { start(): Promise<Kms> } {
  let made: Promise<Kms> | undefined;
  let ready: Kms | undefined;
  const start = () => {
    made ??= create().then(
      (k) => (ready = k),
      (err: unknown) => {
        made = undefined; // a later attempt may succeed (e.g. the HSM came back)
        throw err;
      },
    );
    return made;
  };
  return {
    start,
    wrap: async (dek, context) => (await start()).wrap(dek, context),
    unwrap: async (w, context) => (await start()).unwrap(w, context),
    beginRotation: async () => (await start()).beginRotation(),
    describe() {
      if (!ready) throw new HavenError('fault', 'KMS_NOT_STARTED', 'The KMS was used before it started');
      return ready.describe();
    },
    async close() {
      if (made) await (await made.catch(() => undefined))?.close();
      made = undefined;
      ready = undefined;
    },
  };
}

export interface BodyEncryption {
  /** The body codec: envelope encryption, or plaintext when encryption is off (test only). */
  codec: EnvelopeCodec | undefined;
  keyring: Keyring | undefined;
  kms: (Kms & { start(): Promise<Kms> }) | undefined;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Encryption of resource bodies as configured; `codec` undefined means "use the plaintext codec". */
export function createBodyEncryption(config: HavenConfig, deps: { db: SqlDb; logger: Logger; clock?: Clock }): BodyEncryption {
  if (config.kms.encryption === 'off') {
    deps.logger.warn({}, 'ENCRYPTION AT REST IS OFF (HAVEN_ENCRYPTION=off, test environment only)');
    return { codec: undefined, keyring: undefined, kms: undefined, start: async () => undefined, close: async () => undefined };
  }
  const kms = lazyKms(() => createKmsFromConfig(config, deps.logger));
  const keyring = createKeyring({ db: deps.db, kms, ttlMs: config.kms.dekCacheSeconds * 1000, refreshMs: config.kms.dekRefreshSeconds * 1000, ...(deps.clock ? { clock: deps.clock } : {}) });
  return {
    codec: createEnvelopeCodec({ keyring }),
    keyring,
    kms,
    start: async () => {
      const k = await kms.start();
      deps.logger.info({ provider: k.describe().provider, kekId: k.describe().kekId }, 'encryption at rest: on');
    },
    async close() {
      await keyring.close();
      await kms.close();
    },
  };
}
