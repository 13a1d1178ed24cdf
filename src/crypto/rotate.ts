import type { Logger } from '../kernel/index.js';
import { lockWrappedKeys, updateWrapped, type SqlDb, type SqlQueryable } from './data-key-store.js';
import { dekContext, type Kms } from './kms.js';

export interface KekRotationResult {
  from: string;
  to: string;
  rewrapped: number;
  /** Other wrapped secrets re-wrapped by `rewrapSecrets` (e.g. the audit signing key). */
  secrets: number;
}

/**
 * Re-wraps wrapped secrets that are not DEKs (kept by other modules, e.g. the
 * audit log's signing key) inside the rotation's transaction: `rewrap` turns
 * a blob wrapped by the old KEK into one wrapped by the new KEK, `kekId`.
 * Returns how many it re-wrapped.
 */
export type RewrapSecrets = (tx: SqlQueryable, rewrap: (wrapped: Buffer, context: Buffer) => Promise<Buffer>, kekId: string) => Promise<number>;

/**
 * KEK rotation: a new KEK is created in the KMS, every stored DEK is
 * unwrapped with the old KEK and re-wrapped with the new one in ONE database
 * transaction, then the new KEK becomes current. Data is not re-encrypted
 * (the DEKs do not change). If the transaction fails, the new KEK is kept
 * but not made current (it may be in use if only the COMMIT acknowledgement
 * was lost); if the process dies after the commit but
 * before the KMS switch, every DEK names the KEK that wrapped it and both KEKs
 * exist, so reads keep working and a second rotation finishes the job.
 */
export async function rotateKek(deps: { db: SqlDb; kms: Kms; logger: Logger; rewrapSecrets?: RewrapSecrets }): Promise<KekRotationResult> {
  const from = deps.kms.describe().kekId;
  const rotation = await deps.kms.beginRotation();
  let rewrapped = 0;
  let secrets = 0;
  const rewrap = async (wrapped: Buffer, context: Buffer): Promise<Buffer> => {
    const secret = await deps.kms.unwrap(wrapped, context);
    try {
      return await rotation.wrap(secret, context);
    } finally {
      secret.fill(0);
    }
  };
  try {
    await deps.db.transaction(async (tx) => {
      for (const row of await lockWrappedKeys(tx)) {
        const context = dekContext(row.tenant_id, row.purpose);
        const dek = await deps.kms.unwrap(row.wrapped!, context);
        try {
          await updateWrapped(tx, row, rotation.kekId, await rotation.wrap(dek, context));
        } finally {
          dek.fill(0);
        }
        rewrapped++;
      }
      if (deps.rewrapSecrets) secrets = await deps.rewrapSecrets(tx, rewrap, rotation.kekId);
    });
  } catch (err) {
    await rotation.abort().catch(() => undefined);
    throw err;
  }
  await rotation.commit();
  deps.logger.info({ from, to: rotation.kekId, rewrapped, secrets }, 'KEK rotation complete');
  return { from, to: rotation.kekId, rewrapped, secrets };
}
