import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { verifyAuditLog, witnessPathFor, type VerifyReport } from '../audit/index.js';
import { loadConfig } from '../config/index.js';
import { createDb, createEmbeddedPostgres, type Db, type EmbeddedPostgres } from '../store/index.js';
import { intOption, stringOption, type ParsedArgs } from './args.js';

export const AUDIT_USAGE = 'haven audit verify [--from N] [--witness PATH] [--public-key BASE64] [--skip-columns]';

/**
 * `haven audit verify`: offline verification of the audit log, against
 * DATABASE_URL or the (stopped) embedded data directory, which it starts
 * unsupervised for the duration. Exit 0 when the log is intact, 3 when not.
 */
export async function auditCommand(args: ParsedArgs): Promise<number> {
  if (args.positionals[1] !== 'verify') throw new Error(`usage: ${AUDIT_USAGE}`);
  const config = loadConfig();
  const witness = stringOption(args, 'witness') ?? witnessPathFor(config.dataDir);
  const publicKey = stringOption(args, 'public-key');
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = config.database.url;
  if (!connectionString) {
    embedded = createEmbeddedPostgres({ dataDir: resolve(config.dataDir), osUser: config.database.osUser, supervise: false });
    await embedded.start();
    connectionString = embedded.connectionString;
  }
  const db: Db = createDb({ connectionString, maxConnections: 2 });
  try {
    const started = Date.now();
    const report = await verifyAuditLog(db, {
      fromSeq: intOption(args, 'from', 0),
      ...(existsSync(witness) ? { witnessPath: witness } : {}),
      ...(publicKey ? { trustedKeys: [Buffer.from(publicKey, 'base64')] } : {}),
      checkColumns: !args.options.has('skip-columns'),
    });
    printReport(report, existsSync(witness) ? witness : undefined, Date.now() - started);
    return report.ok ? 0 : 3;
  } finally {
    await db.close();
    if (embedded) await embedded.stop();
  }
}

function printReport(report: VerifyReport, witness: string | undefined, ms: number): void {
  const rate = ms > 0 ? Math.round((report.entries / ms) * 1000) : report.entries;
  console.log(`audit log: ${report.logSize} entries; verified seq ${report.startedAt}..${report.logSize - 1} (${report.entries} leaves, ${rate}/s)`);
  console.log(`tree heads: ${report.databaseHeads} in the database, ${report.witnessHeads} in the witness${witness ? ` (${witness})` : ' (no witness file: a wholesale replacement of the log cannot be detected)'}`);
  if (report.pending > 0) console.log(`pending: ${report.pending} entries not yet sequenced`);
  if (report.ok) {
    console.log('OK: every leaf, tree head and signature checks out');
    return;
  }
  console.error(`FAILED: ${report.problems.length} problem(s)`);
  for (const p of report.problems) console.error(`  - ${p}`);
}
