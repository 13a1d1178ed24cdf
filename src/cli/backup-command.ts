import { join, resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { recordKeyOperation } from '../audit/index.js';
import { createKmsFromConfig } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import { createBackup } from '../store/backup/backup.js';
import { restoreBackup } from '../store/backup/restore.js';
import { stringOption, type ParsedArgs } from './args.js';
import { cliActor } from './keys-dek.js';
import { withDatabase } from './keys.js';

export const BACKUP_HELP = `haven backup --out DIR [--tenant T]
        Consistent, encrypted snapshot of the database and the blob directory into DIR (must be empty).
        Files are sealed under a per-backup key wrapped by the KMS; manifest.json lists every file's
        SHA-256 and is MACed. Restore needs the same KMS.
haven restore --from DIR
        Verifies the whole backup (MAC, checksums, decryption), then loads it into an EMPTY instance.`;

const blobDirOf = (config: HavenConfig) => config.blobDir ?? join(resolve(config.dataDir), 'blobs');

export async function backupCommand(args: ParsedArgs, config: HavenConfig, logger: Logger, print: (line: string) => void): Promise<number> {
  const restore = args.positionals[0] === 'restore';
  const dir = stringOption(args, restore ? 'from' : 'out');
  if (!dir) {
    print(BACKUP_HELP);
    return 64;
  }
  if (config.kms.encryption === 'off') throw new HavenError('incorrect', 'KEYS_ENCRYPTION_OFF', 'Encryption is off (HAVEN_ENCRYPTION=off): backups need the KMS');
  return withDatabase(config, logger, async (db) => {
    const kms = await createKmsFromConfig(config, logger);
    try {
      const tenant = stringOption(args, 'tenant');
      const m = restore
        ? await restoreBackup({ db, kms, from: resolve(dir), blobDir: blobDirOf(config) })
        : await createBackup({ db, kms, out: resolve(dir), blobDir: blobDirOf(config), ...(tenant ? { tenant } : {}) });
      await recordKeyOperation(db, { tenant: m.tenant ?? 'default', operation: restore ? 'restore' : 'backup', actor: cliActor(), keys: [`backup/${m.backupId}`] });
      const rows = m.files.reduce((n, f) => n + f.rows, 0);
      print(`${restore ? 'restored' : 'backup'} ${m.backupId}: ${m.files.length} file(s), ${rows} row(s)`);
      return 0;
    } finally {
      await kms.close();
    }
  });
}
