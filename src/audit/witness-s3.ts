import type { HavenConfig } from '../config/index.js';
import type { Logger } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { failureCode, putLocked, type S3Target } from './s3-client.js';
import { headsAfter, witnessLines } from './witness.js';

/**
 * The S3-compatible witness (docs/security/audit.md, S3 witness): signed tree
 * heads published to a bucket with Object Lock, each object locked in
 * COMPLIANCE mode, so not even the bucket's owner can change or delete it
 * before its retention ends. One object per upload holds every head since the
 * previous upload (key `<prefix>/sth/<last tree size, 20 digits>.jsonl`, so
 * keys sort by size). A failed upload loses nothing: the heads stay in the
 * database and the next attempt starts from the last size the bucket holds.
 */
export interface S3WitnessSettings extends S3Target {
  prefix: string;
  retentionDays: number;
  /** Least time between upload attempts. */
  intervalMs: number;
}

export function s3WitnessSettings(audit: HavenConfig['audit']): S3WitnessSettings | undefined {
  const { witnessS3Url: url, witnessS3Bucket: bucket, witnessS3AccessKeyId: accessKeyId, witnessS3SecretAccessKey: secretAccessKey } = audit;
  if (!url || !bucket || !accessKeyId || !secretAccessKey) return undefined;
  return {
    url,
    bucket,
    region: audit.witnessS3Region,
    credentials: { accessKeyId, secretAccessKey },
    prefix: audit.witnessS3Prefix.replace(/^\/+|\/+$/g, ''),
    retentionDays: audit.witnessS3RetentionDays,
    intervalMs: audit.witnessS3IntervalSeconds * 1000,
  };
}

export const headsPrefix = (s: Pick<S3WitnessSettings, 'prefix'>) => `${s.prefix ? `${s.prefix}/` : ''}sth/`;
export const headsKey = (s: Pick<S3WitnessSettings, 'prefix'>, lastSize: number) => `${headsPrefix(s)}${String(lastSize).padStart(20, '0')}.jsonl`;

/** What /readyz and metrics report about the witness. */
export interface WitnessStatus {
  /** Largest tree size the bucket is known to hold (-1: not known yet). */
  published: number;
  /** Upload failures by S3 error code (AccessDenied, InvalidRequest, Timeout, …) since start. */
  failures: Record<string, number>;
  consecutiveFailures: number;
  lastErrorCode?: string;
  /** False after 3 failed uploads in a row (until one succeeds). */
  healthy: boolean;
}

export interface S3Witness {
  /** Uploads the heads the bucket lacks, at most once per interval unless forced; never throws. */
  publish(q: Queryable, nowMs: number, force?: boolean): Promise<void>;
  status(): WitnessStatus;
}

const UNHEALTHY_AFTER = 3;
const HEADS_PER_OBJECT = 5000;

export function createS3Witness(settings: S3WitnessSettings, logger: Logger): S3Witness {
  const name = `s3:${settings.url}/${settings.bucket}/${settings.prefix}`;
  const state: WitnessStatus = { published: -1, failures: {}, consecutiveFailures: 0, healthy: true };
  let lastAttempt = -Infinity;

  async function upload(q: Queryable, nowMs: number): Promise<void> {
    if (state.published < 0) {
      const row = await q.query<{ tree_size: string }>('SELECT tree_size FROM audit_witness_progress WHERE witness = $1', [name]);
      state.published = row.rows[0] ? Number(row.rows[0].tree_size) : 0;
    }
    for (;;) {
      const records = await headsAfter(q, state.published, HEADS_PER_OBJECT);
      if (records.length === 0) return;
      const last = records[records.length - 1]!.treeSize;
      // false: an earlier attempt stored it and its reply was lost; the object is already locked.
      await putLocked(settings, headsKey(settings, last), witnessLines(records), new Date(nowMs + settings.retentionDays * 86_400_000));
      await q.query(
        `INSERT INTO audit_witness_progress (witness, tree_size) VALUES ($1, $2)
         ON CONFLICT (witness) DO UPDATE SET tree_size = GREATEST(audit_witness_progress.tree_size, EXCLUDED.tree_size), updated_at = now()`,
        [name, last],
      );
      state.published = last;
    }
  }

  return {
    async publish(q, nowMs, force = false) {
      if (!force && nowMs - lastAttempt < settings.intervalMs) return;
      lastAttempt = nowMs;
      try {
        await upload(q, nowMs);
        state.consecutiveFailures = 0;
        state.healthy = true;
      } catch (err) {
        const code = failureCode(err);
        state.failures[code] = (state.failures[code] ?? 0) + 1;
        state.consecutiveFailures++;
        state.lastErrorCode = code;
        state.healthy = state.consecutiveFailures < UNHEALTHY_AFTER;
        // The bucket and code only: never credentials or signatures.
        logger.error({ witness: 's3', bucket: settings.bucket, code, published: state.published, consecutive: state.consecutiveFailures }, 'audit S3 witness upload failed; retrying at the next round');
      }
    },
    status: () => ({ ...state, failures: { ...state.failures } }),
  };
}
