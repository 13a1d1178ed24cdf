import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger } from '../app/logger.js';
import {
  archiveOldEntries, createAuditEntryCrypto, pruneArchived, type PruneReport, disclosureReport, downloadS3Witness, readWitness, renderDisclosures, s3WitnessSettings, verifyAuditLog, verifyRemoteLog, witnessPathFor,
  type VerifyReport,
} from '../audit/index.js';
import { loadConfig, type HavenConfig } from '../config/index.js';
import { createBodyEncryption } from '../crypto/index.js';
import { createLocalBlobStore, keyringSealer } from '../store/blob-store.js';
import { createDb, createEmbeddedPostgres, type Db, type EmbeddedPostgres } from '../store/index.js';
import { intOption, stringOption, type ParsedArgs } from './args.js';
import { fetchToken, readBootstrap } from './client.js';
import { cliActor } from './keys-dek.js';

export const AUDIT_USAGE = [
  'haven audit verify [--from N] [--witness PATH|s3] [--public-key BASE64] [--skip-columns] [--parallel N] [--archive DIR]',
  'haven audit verify --url URL [--witness PATH|s3] [--heads N] [--sample N]',
  'haven audit archive',
  'haven audit prune [--confirm] [--public-key BASE64] [--step N]',
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
  if (sub === 'verify' && stringOption(args, 'url')) return remoteVerifyCommand(args, loadConfig());
  if (sub === 'verify') return withAuditDb((db, config) => verifyCommand(args, db, config));
  if (sub === 'report') return withAuditDb((db, config) => reportCommand(args, db, config));
  if (sub === 'archive') return withAuditDb((db, config) => archiveCommand(db, config));
  if (sub === 'prune') return withAuditDb((db, config) => pruneCommand(args, db, config));
  throw new Error(`usage: ${AUDIT_USAGE}`);
}

async function withAuditDb(run: (db: Db, config: HavenConfig) => Promise<number>): Promise<number> {
  const config = loadConfig();
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = config.database.url;
  if (!connectionString) {
    embedded = createEmbeddedPostgres({
      dataDir: resolve(config.dataDir),
      osUser: config.database.osUser,
      sharedBuffersMb: config.database.embeddedSharedBuffersMb,
      supervise: false,
    });
    await embedded.start();
    connectionString = embedded.connectionString;
  }
  const db: Db = createDb({ connectionString, maxConnections: 2 });
  try {
    return await run(db, config);
  } finally {
    await db.close();
    if (embedded) await embedded.stop();
  }
}

/** `--witness s3`: the heads published to the configured Object Lock bucket, downloaded to a temporary file. */
async function witnessFile(args: ParsedArgs, config: HavenConfig): Promise<{ path: string; problems: string[]; cleanup(): void }> {
  const given = stringOption(args, 'witness');
  if (given !== 's3') return { path: given ?? witnessPathFor(config.dataDir), problems: [], cleanup: () => undefined };
  const settings = s3WitnessSettings(config.audit);
  if (!settings) throw new Error('--witness s3 needs HAVEN_AUDIT_WITNESS_S3_URL and the other S3 witness settings');
  const dir = mkdtempSync(join(tmpdir(), 'haven-witness-'));
  const path = join(dir, 'witness.jsonl');
  const read = await downloadS3Witness(settings, path);
  return { path, problems: read.problems, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function verifyCommand(args: ParsedArgs, db: Db, config: HavenConfig): Promise<number> {
  const w = await witnessFile(args, config);
  try {
    return await verifyWith(args, db, config, w.path, w.problems);
  } finally {
    w.cleanup();
  }
}

async function verifyWith(args: ParsedArgs, db: Db, config: HavenConfig, witness: string, witnessProblems: string[]): Promise<number> {
  const publicKey = stringOption(args, 'public-key');
  const parallel = intOption(args, 'parallel', 0);
  const started = Date.now();
  const report = await verifyAuditLog(db, {
    fromSeq: intOption(args, 'from', 0),
    ...(existsSync(witness) ? { witnessPath: witness } : {}),
    ...(publicKey ? { trustedKeys: [Buffer.from(publicKey, 'base64')] } : {}),
    checkColumns: !args.options.has('skip-columns'),
    ...(parallel > 0 ? { parallelism: parallel } : {}),
    archiveDir: stringOption(args, 'archive') ?? join(resolve(config.dataDir), 'audit', 'archive'),
  });
  // A rewrite attempt seen in the S3 bucket (a later version or delete marker) is a finding too.
  const checked = witnessProblems.length === 0 ? report : { ...report, ok: false, problems: [...witnessProblems, ...report.problems] };
  printReport(checked, existsSync(witness) ? witness : undefined, Date.now() - started);
  return checked.ok ? 0 : 3;
}

/**
 * `haven audit verify --url`: a running server checked through its API alone
 * (tree head, consistency and inclusion proofs) against the local copy of the
 * witness, with the bootstrap admin client's token (src/audit/verify-remote.ts).
 */
async function remoteVerifyCommand(args: ParsedArgs, config: HavenConfig): Promise<number> {
  const base = stringOption(args, 'url')!.replace(/\/$/, '');
  const { token } = await fetchToken(base, await readBootstrap(config.dataDir), 'system/AuditEvent.r');
  const w = await witnessFile(args, config);
  try {
    const witness = readWitness(w.path);
    if (witness.records.length === 0) console.error(`no witness records at ${w.path}: only the server's own consistency can be checked`);
    const report = await verifyRemoteLog({
      get: async (path) => {
        const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
        return { status: res.status, body: (await res.json()) as unknown };
      },
      witness: witness.records,
      maxHeads: intOption(args, 'heads', 50),
      sampleEntries: intOption(args, 'sample', 20),
    });
    const problems = [...w.problems, ...witness.malformed.map((n) => `witness line ${n} is not a well-formed record`), ...report.problems];
    const pruned = report.firstKept > 0 ? `; entries before seq ${report.firstKept} were pruned (archived): ${report.prunedHeads} witnessed head(s) below it are left to haven audit verify --archive` : '';
    const line = `server log at size ${report.treeSize}: ${report.headsChecked} witnessed head(s) checked for consistency, ${report.entriesChecked} entr${report.entriesChecked === 1 ? 'y' : 'ies'} for inclusion${pruned}`;
    if (problems.length === 0) {
      console.log(`audit log OK (through the API): ${line}`);
      return 0;
    }
    console.error(`audit log NOT OK (through the API): ${line}\n  ${problems.join('\n  ')}`);
    return 3;
  } finally {
    w.cleanup();
  }
}

/**
 * `haven audit archive`: entries older than HAVEN_AUDIT_RETENTION_YEARS go to
 * encrypted blob segments with key-free manifests under <dataDir>/audit/archive
 * (docs/security/audit.md, "Retention and archive"). Nothing is deleted.
 */
async function archiveCommand(db: Db, config: HavenConfig): Promise<number> {
  const encryption = createBodyEncryption(config, { db, logger: createLogger(config.log.level) });
  if (!encryption.keyring) throw new Error('audit archive needs encryption at rest: archived entries are PHI');
  await encryption.start();
  try {
    const blobs = createLocalBlobStore({ dir: config.blobDir ?? join(resolve(config.dataDir), 'blobs'), sealer: keyringSealer(encryption.keyring) });
    const manifestDir = join(resolve(config.dataDir), 'audit', 'archive');
    const segments = await archiveOldEntries(db, { blobs, manifestDir, now: new Date(), retentionYears: config.audit.retentionYears });
    const entries = segments.reduce((n, m) => n + (m.to - m.from), 0);
    console.log(`archived ${segments.length} segment(s), ${entries} entries older than ${config.audit.retentionYears} years; manifests in ${manifestDir}`);
    return 0;
  } finally {
    await encryption.close();
  }
}

/**
 * `haven audit prune`: a dry run unless `--confirm` (docs/security/audit.md,
 * "Retention and archive"). Removes from PostgreSQL only what archive
 * segments hold and verify — manifests without keys, blobs with them — and
 * what is past HAVEN_AUDIT_RETENTION_YEARS; exits 3 (nothing removed) when a
 * check fails.
 */
async function pruneCommand(args: ParsedArgs, db: Db, config: HavenConfig): Promise<number> {
  const encryption = createBodyEncryption(config, { db, logger: createLogger(config.log.level) });
  if (!encryption.keyring) throw new Error('audit prune needs encryption at rest: it checks the archived (encrypted) entries before removing them');
  await encryption.start();
  const pruner = config.audit.pruneDatabaseUrl ? createDb({ connectionString: config.audit.pruneDatabaseUrl, maxConnections: 1 }) : undefined;
  try {
    const blobs = createLocalBlobStore({ dir: config.blobDir ?? join(resolve(config.dataDir), 'blobs'), sealer: keyringSealer(encryption.keyring) });
    const manifestDir = join(resolve(config.dataDir), 'audit', 'archive');
    const publicKey = stringOption(args, 'public-key');
    const confirm = args.options.has('confirm');
    const r = await pruneArchived(db, {
      manifestDir, read: (t, n) => blobs.read(t, n), now: new Date(), retentionYears: config.audit.retentionYears, actor: cliActor(), confirm,
      ...(pruner ? { pruner } : {}),
      ...(publicKey ? { trustedKeys: [Buffer.from(publicKey, 'base64')] } : {}),
      step: intOption(args, 'step', 10_000),
    });
    return printPrune(r, confirm, manifestDir);
  } finally {
    await pruner?.close();
    await encryption.close();
  }
}

function printPrune(r: PruneReport, confirm: boolean, manifestDir: string): number {
  const range = (to: number) => (to > 0 ? `seq 0..${to - 1}` : 'nothing');
  console.log(`retention cutoff ${r.cutoff.toISOString()}; pruned before this run: ${range(r.prunedBefore)}; archive: ${manifestDir}`);
  if (r.problems.length > 0) {
    console.error(`REFUSED: nothing removed; ${r.problems.length} problem(s) with the archive`);
    for (const p of r.problems) console.error(`  - ${p}`);
    return 3;
  }
  for (const s of r.segments) console.log(`archive segment ${s.from}..${s.to - 1}: manifest and blobs verify`);
  if (!confirm) {
    console.log(r.target > r.prunedBefore ? `dry run: would remove ${range(r.target)} (first kept seq ${r.target}); run again with --confirm` : 'dry run: nothing to remove');
    return 0;
  }
  console.log(`removed ${r.batches} batches (${r.entries} entries); first kept seq ${r.target}; haven audit verify now starts there`);
  return 0;
}

async function reportCommand(args: ParsedArgs, db: Db, config: HavenConfig): Promise<number> {
  const patientId = stringOption(args, 'patient');
  if (!patientId) throw new Error(`usage: ${AUDIT_USAGE}`);
  const format = stringOption(args, 'format') ?? 'json';
  if (format !== 'json' && format !== 'csv' && format !== 'html') throw new Error('--format must be json, csv or html');
  const since = stringOption(args, 'since');
  const until = stringOption(args, 'until');
  // v2 entries keep their details sealed under the tenant's audit key: the report needs the KMS (docs/security/audit.md).
  const encryption = createBodyEncryption(config, { db, logger: createLogger(config.log.level) });
  await encryption.start();
  let report;
  try {
    report = await disclosureReport(db, {
      tenant: stringOption(args, 'tenant') ?? 'default',
      patientId: patientId.replace(/^Patient\//, ''),
      now: new Date(),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
    }, encryption.keyring ? createAuditEntryCrypto(encryption.keyring) : undefined);
  } finally {
    await encryption.close();
  }
  if (report.coverage) console.error(`note: the audit log in the database is complete from ${report.coverage.completeFrom}; older entries were pruned and are only in the archive`);
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
  const p = report.pruned;
  if (p.firstKept > 0) {
    const when = p.prunedAt ? ` on ${p.prunedAt.toISOString()}` : '';
    console.log(p.archiveChecked
      ? `pruned: seq 0..${p.firstKept - 1} removed${when}; ${p.headsChecked} tree head(s) up to seq ${p.firstKept} checked against the archive manifests`
      : `pruned: seq 0..${p.firstKept - 1} removed${when}; no archive directory given (--archive DIR): heads before seq ${p.firstKept} not checked`);
  }
  for (const w of report.withheld) console.log(`withheld: ${w.entries} entries of tenant ${w.tenant} verified by leaf hash only (${w.reason})`);
  if (report.ok) {
    console.log('OK: every leaf, tree head and signature checks out');
    return;
  }
  console.error(`FAILED: ${report.problems.length} problem(s)`);
  for (const p of report.problems) console.error(`  - ${p}`);
}
