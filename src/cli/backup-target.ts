import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { HavenError } from '../kernel/index.js';
import { parseS3Uri, type S3BackupTarget } from '../store/backup/s3-target.js';

/**
 * Where `haven backup` writes and `haven restore` reads: a directory, or an
 * S3-compatible bucket (`s3://bucket/prefix`, or HAVEN_BACKUP_S3_BUCKET with
 * a prefix per backup). Endpoint and credentials come from HAVEN_BACKUP_S3_*,
 * else from the standard AWS_* variables.
 */
export type BackupLocation = { kind: 'dir'; dir: string } | { kind: 's3'; target: S3BackupTarget; uri: string };

/** `2026-11-29T09-30-00Z`: one prefix per backup when only the bucket is configured. */
const stamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');

export function backupLocation(arg: string | undefined, config: HavenConfig, env: NodeJS.ProcessEnv, now = new Date()): BackupLocation | undefined {
  const b = config.backup;
  if (arg === undefined) {
    if (!b.s3Bucket) return undefined;
    arg = `s3://${b.s3Bucket}/${b.s3Prefix}/${stamp(now)}`;
  }
  if (!arg.startsWith('s3://')) return { kind: 'dir', dir: resolve(arg) };
  const where = parseS3Uri(arg);
  if (!where) throw new HavenError('incorrect', 'BACKUP_S3_CONFIG_INVALID', `${arg} is not s3://<bucket>/<prefix> (prefix: letters, digits and . _ - separated by /)`);
  const accessKeyId = b.s3AccessKeyId ?? env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = b.s3SecretAccessKey ?? env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) {
    throw new HavenError('incorrect', 'BACKUP_S3_CONFIG_INVALID', 'S3 backups need HAVEN_BACKUP_S3_ACCESS_KEY_ID and HAVEN_BACKUP_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)');
  }
  const sessionToken = b.s3AccessKeyId === undefined ? env['AWS_SESSION_TOKEN'] : undefined;
  return {
    kind: 's3',
    uri: `s3://${where.bucket}/${where.prefix}`,
    target: {
      s3: {
        url: b.s3Url ?? `https://s3.${b.s3Region}.amazonaws.com`,
        bucket: where.bucket,
        region: b.s3Region,
        credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
      },
      prefix: where.prefix,
      partBytes: b.s3PartMb * 1024 * 1024,
    },
  };
}

/** A fresh staging directory for an S3 backup or restore (ciphertext only), under the data directory. */
export const stagingDirOf = (config: HavenConfig) => join(resolve(config.dataDir), 'backup-staging', randomUUID());
