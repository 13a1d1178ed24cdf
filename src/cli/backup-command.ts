import { join, resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { recordKeyOperation } from '../audit/index.js';
import { createKmsFromConfig } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import { createBackup } from '../store/backup/backup.js';
import { createDb, type Db } from '../store/index.js';
import { restoreBackup, type RestoreResult } from '../store/backup/restore.js';
import { createS3Backup, restoreS3Backup } from '../store/backup/s3-target.js';
import { stringOption, type ParsedArgs } from './args.js';
import { backupLocation, stagingDirOf } from './backup-target.js';
import { cliActor } from './keys-dek.js';
import { withDatabase } from './keys.js';

export const BACKUP_HELP = `haven backup --to DIR|s3://BUCKET/PREFIX [--tenant T]   (--out DIR: the same as --to DIR)
        Consistent, encrypted snapshot of the database and the blob directory. A directory must be
        empty; an S3 prefix must hold no backup yet (the backup is staged under the data directory,
        uploaded, the staging removed). Without --to, HAVEN_BACKUP_S3_BUCKET gives
        s3://<bucket>/<HAVEN_BACKUP_S3_PREFIX>/<UTC time>. Each tenant's rows and blobs are sealed
        under a key only that tenant's backup DEK opens (crypto-shredding reaches old backups);
        installation tables under a per-backup key wrapped by the KMS; manifest.json is MACed.
haven restore --from DIR|s3://BUCKET/PREFIX [--keys-from POSTGRES_URL]
        Verifies the whole backup (MAC, checksums, decryption), then loads it into an EMPTY instance.
        Restore needs the same KMS, and the tenants' backup DEKs: from the database at --keys-from
        (the installation that took the backup, or a replica), else from the target database.
        Tenants shredded since the backup are skipped and reported.`;

/** The local blob store directory (HAVEN_BLOB_DIR, default <dataDir>/blobs). */
export const blobDirOf = (config: HavenConfig) => config.blobDir ?? join(resolve(config.dataDir), 'blobs');

export async function backupCommand(args: ParsedArgs, config: HavenConfig, logger: Logger, print: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const restore = args.positionals[0] === 'restore';
  const where = backupLocation(restore ? stringOption(args, 'from') : (stringOption(args, 'to') ?? stringOption(args, 'out')), config, env);
  if (!where || (restore && !stringOption(args, 'from'))) {
    print(BACKUP_HELP);
    return 64;
  }
  if (config.kms.encryption === 'off') throw new HavenError('incorrect', 'KEYS_ENCRYPTION_OFF', 'Encryption is off (HAVEN_ENCRYPTION=off): backups need the KMS');
  return withDatabase(config, logger, async (db) => {
    const kms = await createKmsFromConfig(config, logger);
    let keyStore: Db | undefined;
    try {
      const tenant = stringOption(args, 'tenant');
      const common = { db, kms, blobDir: blobDirOf(config) };
      const backupOpts = { ...common, ...(tenant ? { tenant } : {}) };
      const keysFrom = restore ? stringOption(args, 'keys-from') : undefined;
      keyStore = keysFrom ? createDb({ connectionString: keysFrom, maxConnections: 1 }) : undefined;
      const restoreOpts = { ...common, ...(keyStore ? { keyStore } : {}) };
      const m = where.kind === 'dir'
        ? restore ? await restoreBackup({ ...restoreOpts, from: where.dir }) : await createBackup({ ...backupOpts, out: where.dir })
        : restore ? await restoreS3Backup({ ...restoreOpts, target: where.target, stagingDir: stagingDirOf(config) }) : await createS3Backup({ ...backupOpts, target: where.target, stagingDir: stagingDirOf(config) });
      await recordKeyOperation(db, { tenant: m.tenant ?? 'default', operation: restore ? 'restore' : 'backup', actor: cliActor(), keys: [`backup/${m.backupId}`] });
      const rows = m.files.reduce((n, f) => n + f.rows, 0);
      print(`${restore ? 'restored' : 'backup'} ${m.backupId}: ${m.files.length} file(s), ${rows} row(s)${where.kind === 's3' ? ` ${restore ? 'from' : 'to'} ${where.uri}` : ''}`);
      for (const s of restore ? (m as RestoreResult).skippedTenants : []) print(`skipped tenant ${s.tenant}: ${s.reason}`);
      for (const t of m.shredded ?? []) if (!restore) print(`left out tenant ${t}: it was crypto-shredded`);
      const withheld = restore ? (m as RestoreResult).auditEntriesWithheld : 0;
      if (withheld > 0) print(`${withheld} audit entr${withheld === 1 ? 'y' : 'ies'} of those tenants kept as leaf hashes only (haven audit verify reports them as withheld)`);
      return 0;
    } finally {
      await keyStore?.close();
      await kms.close();
    }
  });
}
