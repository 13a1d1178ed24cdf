import { userInfo } from 'node:os';
import { recordKeyOperation } from '../audit/index.js';
import { createKeyring, destroyRetiredKey, REENCRYPTED_PURPOSES, retiredKeys, rotateDek, type DekRotationResult, type KeyPurpose, type Kms, type SqlQueryable } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import type { Db } from '../store/index.js';
import { countBlobsSealedWith, countSealedWith, enqueueReencryption, runReencryption, type ReencryptRun } from '../store/reencrypt/worker.js';

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
  /** The local blob store (purpose `blobs`: its files are re-encrypted and checked before a key is destroyed). */
  blobDir?: string;
}

/** Tenants that have an active data key of `purpose` (what `rotate --dek` without `--tenant` rotates). */
async function tenantsWithKeys(db: Db, purpose: KeyPurpose): Promise<string[]> {
  const res = await db.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM data_key WHERE purpose = $1 AND status = 'active' ORDER BY 1`, [purpose]);
  return res.rows.map((r) => r.tenant_id);
}

/**
 * Creates the next DEK version (new writes use it at once on this node and
 * within the refresh interval on others), then enqueues the re-encryption job
 * and records the operation in the audit log in the same transaction.
 */
export async function startDekRotation(d: DekDeps, tenant: string | undefined, purpose: KeyPurpose): Promise<(DekRotationResult & { jobId?: string })[]> {
  const tenants = tenant ? [tenant] : await tenantsWithKeys(d.db, purpose);
  if (tenants.length === 0) throw new HavenError('incorrect', 'KEYS_NOTHING_TO_ROTATE', `No tenant has an active ${purpose} data key yet; nothing to rotate`);
  const out: (DekRotationResult & { jobId?: string })[] = [];
  for (const t of tenants) out.push(await rotateOne(d, t, purpose));
  return out;
}

/**
 * `haven keys rotate --dek` over several purposes: each purpose's series is
 * rotated for the tenants that have one (a purpose never used, e.g. no export
 * yet, has nothing to rotate and is passed over). Fails only if none had a key.
 */
export async function startDekRotations(d: DekDeps, tenant: string | undefined, purposes: KeyPurpose[]): Promise<(DekRotationResult & { jobId?: string })[]> {
  if (purposes.length === 1) return startDekRotation(d, tenant, purposes[0]!);
  const out: (DekRotationResult & { jobId?: string })[] = [];
  for (const purpose of purposes) {
    const having = await tenantsWithKeys(d.db, purpose);
    for (const t of tenant ? having.filter((x) => x === tenant) : having) out.push(await rotateOne(d, t, purpose));
  }
  if (out.length === 0) throw new HavenError('incorrect', 'KEYS_NOTHING_TO_ROTATE', `No ${tenant ? `data key of tenant ${tenant}` : 'tenant has a data key'} of the purposes ${purposes.join(', ')} yet; nothing to rotate`);
  return out;
}

/**
 * `audit` keys get no re-encryption job: entries sealed with an old version are
 * signed Merkle leaves and are never rewritten, so every version stays readable.
 */
async function rotateOne(d: DekDeps, t: string, purpose: KeyPurpose): Promise<DekRotationResult & { jobId?: string }> {
  const r = await rotateDek({ db: d.db, kms: d.kms }, t, purpose);
  const reencrypt = REENCRYPTED_PURPOSES.includes(purpose);
  const jobId = await d.db.transaction(async (tx) => {
    const id = reencrypt ? await enqueueReencryption(tx, t, r.to, d.settleMs ?? 10_000, purpose) : undefined;
    await recordKeyOperation(tx, { tenant: t, operation: 'keys-rotate-dek', actor: d.actor ?? cliActor(), keys: [`${purpose}/v${r.to}`, ...(r.from ? [`${purpose}/v${r.from}`] : [])] });
    return id;
  });
  d.logger.info({ tenant: t, purpose, from: r.from, to: r.to, jobId }, jobId ? 'DEK rotated; re-encryption job queued' : 'DEK rotated; older versions stay for what they sealed');
  return { ...r, ...(jobId ? { jobId } : {}) };
}

/** Runs queued re-encryption work in this process (resumes whatever is left). */
export async function workReencryption(d: DekDeps, options: { maxBatches?: number; batchSize?: number } = {}): Promise<ReencryptRun> {
  const keyring = createKeyring({ db: d.db, kms: d.kms });
  try {
    return await runReencryption({ db: d.db, keyring, logger: d.logger, owner: `cli-${process.pid}`, ...(d.blobDir !== undefined ? { blobDir: d.blobDir } : {}), ...options });
  } finally {
    await keyring.close();
  }
}

export interface DestroyReport {
  destroyed: string[];
  kept: { key: string; reason: string }[];
}

/**
 * How much stored data still uses a key version, or undefined when its
 * purpose's usage cannot be counted here (such keys are never destroyed).
 */
export function usageCounter(d: Pick<DekDeps, 'blobDir'>, k: { tenant_id: string; purpose: KeyPurpose; version: number }): ((q: SqlQueryable) => Promise<number>) | undefined {
  if (k.purpose === 'resources') return (q) => countSealedWith(q, k.tenant_id, k.version);
  if (k.purpose === 'blobs' && d.blobDir !== undefined) return () => countBlobsSealedWith(d.blobDir!, k.tenant_id, k.version);
  return undefined;
}

/**
 * Destroys retired DEKs that no stored data uses any more (checked under the
 * key row's lock): `resources` keys against every sealed table, `blobs` keys
 * against every blob file of the tenant. Other purposes' usage is not
 * tracked, so those keys are kept.
 */
export async function destroyRetired(d: DekDeps, tenant?: string): Promise<DestroyReport> {
  const report: DestroyReport = { destroyed: [], kept: [] };
  for (const k of await retiredKeys(d.db, tenant)) {
    const name = `${k.tenant_id}/${k.purpose}/v${k.version}`;
    const count = usageCounter(d, k);
    if (k.purpose === 'audit') {
      report.kept.push({ key: name, reason: 'signed audit entries are sealed with it and are never re-encrypted; only tenant shred destroys audit keys' });
      continue;
    }
    if (!count) {
      report.kept.push({ key: name, reason: 'usage of this purpose is not tracked; kept' });
      continue;
    }
    const r = await destroyRetiredKey(d.db, k, count);
    if (!r.destroyed) {
      report.kept.push({ key: name, reason: `${r.inUse} stored ${k.purpose === 'blobs' ? 'blob(s)' : 'row(s)'} still use it; run haven keys reencrypt` });
      continue;
    }
    await recordKeyOperation(d.db, { tenant: k.tenant_id, operation: 'keys-destroy-retired', actor: d.actor ?? cliActor(), keys: [`${k.purpose}/v${k.version}`] });
    report.destroyed.push(name);
  }
  return report;
}
