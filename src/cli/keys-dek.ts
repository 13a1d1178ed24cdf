import { userInfo } from 'node:os';
import { recordKeyOperation } from '../audit/index.js';
import { createKeyring, destroyRetiredKey, retiredKeys, rotateDek, type DekRotationResult, type KeyPurpose, type Kms } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import type { Db } from '../store/index.js';
import { countSealedWith, enqueueReencryption, runReencryption, type ReencryptRun } from '../store/reencrypt/worker.js';

/** The OS user who ran a key command, for the audit entry. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

export interface DekDeps {
  db: Db;
  kms: Kms;
  logger: Logger;
  actor?: string;
  /** How long running nodes may still seal with the old version (their key-ring refresh); the job waits it out. */
  settleMs?: number;
}

/** Tenants that have a `resources` data key (what `rotate --dek` without `--tenant` rotates). */
async function tenantsWithKeys(db: Db, purpose: KeyPurpose): Promise<string[]> {
  const res = await db.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM data_key WHERE purpose = $1 AND status = 'active' ORDER BY 1`, [purpose]);
  return res.rows.map((r) => r.tenant_id);
}

/**
 * Creates the next DEK version (new writes use it at once on this node and
 * within the refresh interval on others), then enqueues the re-encryption job
 * and records the operation in the audit log in the same transaction.
 */
export async function startDekRotation(d: DekDeps, tenant: string | undefined, purpose: KeyPurpose): Promise<(DekRotationResult & { jobId: string })[]> {
  const tenants = tenant ? [tenant] : await tenantsWithKeys(d.db, purpose);
  if (tenants.length === 0) throw new HavenError('incorrect', 'KEYS_NOTHING_TO_ROTATE', `No tenant has an active ${purpose} data key yet; nothing to rotate`);
  const out: (DekRotationResult & { jobId: string })[] = [];
  for (const t of tenants) {
    const r = await rotateDek({ db: d.db, kms: d.kms }, t, purpose);
    const jobId = await d.db.transaction(async (tx) => {
      const id = await enqueueReencryption(tx, t, r.to, d.settleMs ?? 10_000);
      await recordKeyOperation(tx, { tenant: t, operation: 'keys-rotate-dek', actor: d.actor ?? cliActor(), keys: [`${purpose}/v${r.to}`, ...(r.from ? [`${purpose}/v${r.from}`] : [])] });
      return id;
    });
    d.logger.info({ tenant: t, purpose, from: r.from, to: r.to, jobId }, 'DEK rotated; re-encryption job queued');
    out.push({ ...r, jobId });
  }
  return out;
}

/** Runs queued re-encryption work in this process (resumes whatever is left). */
export async function workReencryption(d: DekDeps, options: { maxBatches?: number; batchSize?: number } = {}): Promise<ReencryptRun> {
  const keyring = createKeyring({ db: d.db, kms: d.kms });
  try {
    return await runReencryption({ db: d.db, keyring, logger: d.logger, owner: `cli-${process.pid}`, ...options });
  } finally {
    await keyring.close();
  }
}

export interface DestroyReport {
  destroyed: string[];
  kept: { key: string; reason: string }[];
}

/**
 * Destroys retired DEKs that no stored data uses any more (checked under the
 * key row's lock). `resources` keys are checked against every sealed table;
 * other purposes' usage is not tracked yet, so those keys are kept.
 */
export async function destroyRetired(d: DekDeps, tenant?: string): Promise<DestroyReport> {
  const report: DestroyReport = { destroyed: [], kept: [] };
  for (const k of await retiredKeys(d.db, tenant)) {
    const name = `${k.tenant_id}/${k.purpose}/v${k.version}`;
    if (k.purpose !== 'resources') {
      report.kept.push({ key: name, reason: 'usage of this purpose is not tracked; kept' });
      continue;
    }
    const r = await destroyRetiredKey(d.db, k, (q) => countSealedWith(q, k.tenant_id, k.version));
    if (!r.destroyed) {
      report.kept.push({ key: name, reason: `${r.inUse} stored row(s) still use it; run haven keys reencrypt` });
      continue;
    }
    await recordKeyOperation(d.db, { tenant: k.tenant_id, operation: 'keys-destroy-retired', actor: d.actor ?? cliActor(), keys: [`${k.purpose}/v${k.version}`] });
    report.destroyed.push(name);
  }
  return report;
}
