import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { disclosureReport, renderDisclosures, verifyAuditLog, witnessPathFor, type VerifyReport } from '../audit/index.js';
import { loadConfig } from '../config/index.js';
import { createDb, createEmbeddedPostgres, type Db, type EmbeddedPostgres } from '../store/index.js';
import { intOption, stringOption, type ParsedArgs } from './args.js';

export const AUDIT_USAGE = [
  'haven audit verify [--from N] [--witness PATH] [--public-key BASE64] [--skip-columns]',
  'haven audit report --patient ID [--format json|csv|html] [--since DATE] [--until DATE] [--tenant T] [--out FILE]',
].join('\n       ');

/**
 * `haven audit verify`: offline verification of the audit log, against
 * DATABASE_URL or the (stopped) embedded data directory, which it starts
 * unsupervised for the duration. Exit 0 when the log is intact, 3 when not.
 * `haven audit report`: the accounting of disclosures for one patient, from
 * the same database, for a compliance officer without API access.
 */
export async function auditCommand(args: ParsedArgs): Promise<number> {
  const sub = args.positionals[1];
  if (sub === 'verify') return withAuditDb((db, dataDir) => verifyCommand(args, db, dataDir));
  if (sub === 'report') return withAuditDb((db) => reportCommand(args, db));
  throw new Error(`usage: ${AUDIT_USAGE}`);
}

async function withAuditDb(run: (db: Db, dataDir: string) => Promise<number>): Promise<number> {
  const config = loadConfig();
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = config.database.url;
  if (!connectionString) {
    embedded = createEmbeddedPostgres({ dataDir: resolve(config.dataDir), osUser: config.database.osUser, supervise: false });
    await embedded.start();
    connectionString = embedded.connectionString;
  }
  const db: Db = createDb({ connectionString, maxConnections: 2 });
  try {
    return await run(db, config.dataDir);
  } finally {
    await db.close();
    if (embedded) await embedded.stop();
  }
}

async function verifyCommand(args: ParsedArgs, db: Db, dataDir: string): Promise<number> {
  const witness = stringOption(args, 'witness') ?? witnessPathFor(dataDir);
  const publicKey = stringOption(args, 'public-key');
  const started = Date.now();
  const report = await verifyAuditLog(db, {
    fromSeq: intOption(args, 'from', 0),
    ...(existsSync(witness) ? { witnessPath: witness } : {}),
    ...(publicKey ? { trustedKeys: [Buffer.from(publicKey, 'base64')] } : {}),
    checkColumns: !args.options.has('skip-columns'),
  });
  printReport(report, existsSync(witness) ? witness : undefined, Date.now() - started);
  return report.ok ? 0 : 3;
}

async function reportCommand(args: ParsedArgs, db: Db): Promise<number> {
  const patientId = stringOption(args, 'patient');
  if (!patientId) throw new Error(`usage: ${AUDIT_USAGE}`);
  const format = stringOption(args, 'format') ?? 'json';
  if (format !== 'json' && format !== 'csv' && format !== 'html') throw new Error('--format must be json, csv or html');
  const since = stringOption(args, 'since');
  const until = stringOption(args, 'until');
  const report = await disclosureReport(db, {
    tenant: stringOption(args, 'tenant') ?? 'default',
    patientId: patientId.replace(/^Patient\//, ''),
    now: new Date(),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  });
  const text = renderDisclosures(report, format);
  const out = stringOption(args, 'out');
  if (out) {
    // The report names who saw a patient's record: owner-only permissions.
    writeFileSync(out, text, { mode: 0o600 });
    console.error(`wrote ${report.accesses.length} accesses by ${report.recipients.length} recipients to ${out}`);
  } else {
    process.stdout.write(text);
  }
  return 0;
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
