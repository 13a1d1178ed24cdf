import { loadConfig } from '../config/index.js';
import { createLogger } from '../app/logger.js';
import { publicBaseUrl, startServer } from '../app/server.js';
import { isHavenError } from '../kernel/index.js';
import { checkOptions, intOption, parseArgs, stringOption, type ParsedArgs } from './args.js';
import { createFhirClient, fetchToken, readBootstrap } from './client.js';
import { runImport } from './import.js';
import { auditCommand } from './audit.js';
import { keysCommand } from './keys.js';
import { tenantCommand } from './tenant.js';
import { backupCommand } from './backup-command.js';
import { runSynth } from './synth.js';
import { exportCommand } from './export-command.js';
import { reindexCommand } from './reindex.js';
import { HL7_HELP, hl7Command, parseRoles } from './hl7.js';
import { usersCommand } from './users.js';

export const HELP = `haven — self-hostable FHIR R4 server with security built in

Usage: haven <command> [options]

Commands:
  serve [--roles api,mllp]   Start the server (embedded PostgreSQL unless DATABASE_URL is set); roles:
                             api = HTTP, mllp = HL7 v2 MLLP listener (default: both)
  token [--url URL] [--scope S]
                             Print an access token for the bootstrap admin client (stdout, token only)
  import PATH [--url URL]    Import transaction/batch Bundles, other Bundles, resources (.json) and
                             NDJSON (.ndjson) from a file or folder; continues past bad resources
                             and reports each with its reason; re-running is safe (PUT by id)
  export [--type T,…] [--since INSTANT] [--type-filter Q] [--group ID | --patients] [--out DIR] [--url URL]
                             Bulk Data export ($export) through the API: waits for the job, then downloads
                             the NDJSON files into DIR (default ./export); they are plaintext there
  synth --patients N [--seed S] [--concurrency C] [--url URL]
                             Generate deterministic synthetic patients (~50 resources each) and load
                             them through the running server as transaction Bundles
  reindex [--type T] [--url URL]
                             Rewrite the search index of every resource of type T (default: all types) in
                             a background job ($reindex) and wait for it, printing progress
  keys status | keys rotate --kek | keys rotate --dek [--tenant T] | keys reencrypt | keys destroy-retired
                             Show the KMS, data keys and re-encryption jobs; rotate the key-encryption key
                             (re-wraps every data key) or a data key (new version + background re-encryption);
                             destroy retired data keys nothing uses. With the embedded database, stop the server first
  tenant shred T [--yes] [--allow-default]
                             Crypto-shred a tenant: destroy all its data keys (asks to confirm)
  backup --to DIR|s3://B/P [--tenant T] | restore --from DIR|s3://B/P [--keys-from URL]
                             Encrypted, integrity-checked snapshot of database and blobs; restore verifies
                             everything, then loads into an empty instance (same KMS needed)
  audit verify [--from N] [--witness PATH|s3] [--public-key BASE64] [--skip-columns] [--parallel N] [--archive DIR]
                             Verify the tamper-evident audit log offline (stop the server first when
                             using the embedded database): recomputes every leaf and tree head and
                             checks signatures and the witness file (or the S3 Object Lock witness);
                             after a prune it starts at the first kept entry and checks the heads
                             before it against the archive (--archive, default <dataDir>/audit/archive);
                             exits 3 on any discrepancy
  audit verify --url URL [--witness PATH|s3] [--heads N] [--sample N]
                             Verify a running server through its API only: its newest signed head
                             against the witness copy (consistency proofs), sampled entries against
                             the tree (inclusion proofs); exits 3 on any discrepancy
  audit archive              Export entries older than HAVEN_AUDIT_RETENTION_YEARS (default 6) to
                             encrypted blob segments with key-free manifests (nothing is deleted)
  audit prune [--confirm] [--public-key BASE64] [--step N]
                             Remove from PostgreSQL the audit batches past retention that archive
                             segments hold, after checking the manifests (keyless) and every archived
                             entry (with the keys); a dry run without --confirm; audited; resumable.
                             HAVEN_AUDIT_PRUNE_DATABASE_URL: the role allowed to run audit_prune()
  audit report --patient ID [--format json|csv|html] [--since DATE] [--until DATE] [--out FILE]
                             Accounting of disclosures for one patient (default: the last six years),
                             read offline from the audit log like verify; also GET
                             /fhir/Patient/ID/$disclosures on a running server
  users add --username NAME --role ROLE[,ROLE] [--patient Patient/ID] [--totp]
                             Create a sign-in user (password from stdin or a prompt, never argv);
                             admin roles get TOTP MFA; the otpauth:// URI and ten recovery codes
                             are printed once
  users reset-totp --username NAME
                             Remove a user's TOTP authenticator (lost phone) and recovery codes, end
                             their sessions and revoke their tokens; they enrol a new one at the next
                             sign-in (audited)
  users disable --username NAME | users enable --username NAME
                             Disable an account (sessions end, tokens refused at once) or re-enable it
${HL7_HELP}
  help                       Show this help

Data commands talk to the running server through its API (the embedded database belongs to
the server process) using the bootstrap admin client in $HAVEN_DATA_DIR/bootstrap/.

Configuration comes from the environment (HAVEN_PORT, HAVEN_HOST, HAVEN_DATA_DIR, DATABASE_URL, …);
see docs/configuration.md.`;

function serverUrl(args: ParsedArgs): string {
  const given = stringOption(args, 'url');
  if (given) return given.replace(/\/(fhir\/?)?$/, '');
  const config = loadConfig();
  return publicBaseUrl(config, config.http.port);
}

async function serve(args: ParsedArgs): Promise<number> {
  const roles = parseRoles(stringOption(args, 'roles'));
  const config = loadConfig();
  const logger = createLogger(config.log.level);
  const started = Date.now();
  const server = await startServer(config, logger, { roles });
  logger.info({ url: server.url, ms: Date.now() - started, database: server.embedded ? 'embedded' : 'external' }, 'Haven is ready');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: draining requests');
      const force = setTimeout(() => process.exit(1), config.shutdownGraceMs).unref();
      server.stop().then(
        () => {
          clearTimeout(force);
          resolve();
        },
        (err: unknown) => {
          logger.error({ err: String(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info({}, 'stopped');
  return 0;
}

async function token(args: ParsedArgs): Promise<number> {
  const creds = await readBootstrap(loadConfig().dataDir);
  const t = await fetchToken(serverUrl(args), creds, stringOption(args, 'scope') ?? 'system/*.cruds');
  process.stdout.write(`${t.token}\n`);
  return 0;
}

async function importCommand(args: ParsedArgs): Promise<number> {
  const path = args.positionals[1];
  if (!path) throw new Error('haven import PATH: give a file or folder');
  const client = createFhirClient(serverUrl(args), await readBootstrap(loadConfig().dataDir));
  const report = await runImport(client, path);
  for (const f of report.failures) console.error(`rejected ${f.where}: ${f.reason}`);
  console.log(`imported ${report.resources} resources from ${report.files} files; ${report.failed} rejected`);
  return report.failed > 0 ? 2 : 0;
}

async function synthCommand(args: ParsedArgs): Promise<number> {
  const patients = intOption(args, 'patients', 0);
  if (patients <= 0) throw new Error('haven synth --patients N: N must be at least 1');
  const client = createFhirClient(serverUrl(args), await readBootstrap(loadConfig().dataDir));
  const result = await runSynth(client, { patients, seed: intOption(args, 'seed', 1), concurrency: intOption(args, 'concurrency', 4) });
  console.log(`loaded ${result.patients} patients, ${result.resources} resources; ${result.failed} bundles rejected`);
  return result.failed > 0 ? 2 : 0;
}

/** Entry point: returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const command = args.options.has('help') ? 'help' : (args.positionals[0] ?? 'help');
  try {
    checkOptions(command, args);
  } catch (err) {
    console.error((err as Error).message);
    return 64; // EX_USAGE, as for an unknown command
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(args);
      case 'token':
        return await token(args);
      case 'import':
        return await importCommand(args);
      case 'export':
        return await exportCommand(args, serverUrl(args));
      case 'synth':
        return await synthCommand(args);
      case 'reindex':
        return await reindexCommand(args, serverUrl(args));
      case 'audit':
        return await auditCommand(args);
      case 'keys': {
        const config = loadConfig();
        return await keysCommand(args, config, createLogger(config.log.level), (line) => console.log(line));
      }
      case 'tenant':
      case 'backup':
      case 'restore': {
        const config = loadConfig();
        const run = command === 'tenant' ? tenantCommand : backupCommand;
        return await run(args, config, createLogger(config.log.level), (line) => console.log(line));
      }
      case 'users':
        return await usersCommand(args, serverUrl(args));
      case 'hl7':
        return await hl7Command(args, serverUrl(args), loadConfig().dataDir);
      case 'help':
      case '--help':
        console.log(HELP);
        return 0;
      default:
        console.error(`Unknown command: ${command}\n\n${HELP}`);
        return 64;
    }
  } catch (err) {
    console.error(isHavenError(err) || err instanceof Error ? err.message : String(err));
    return 1;
  }
}
