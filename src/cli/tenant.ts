import { createInterface } from 'node:readline/promises';
import type { HavenConfig } from '../config/index.js';
import { recordKeyOperation } from '../audit/index.js';
import { shredTenantKeys } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import type { Db } from '../store/index.js';
import type { ParsedArgs } from './args.js';
import { cliActor } from './keys-dek.js';
import { withDatabase } from './keys.js';

export const TENANT_HELP = `haven tenant <subcommand>

  tenant shred T [--yes] [--allow-default]
        Crypto-shreds tenant T: destroys every data key of the tenant (all purposes and versions).
        Its resources, history, HL7 messages and blobs become unreadable everywhere, including
        backups taken before (format 2: restore skips the tenant) and after. Irreversible. Asks for the tenant id again unless --yes.
        The default tenant needs --allow-default as well.`;

/** Destroys the tenant's DEKs and records it in the audit log, in one transaction. */
export async function shredTenant(db: Db, tenant: string, actor = cliActor()): Promise<number> {
  return db.transaction(async (tx) => {
    const n = await shredTenantKeys(tx, tenant);
    await recordKeyOperation(tx, { tenant, operation: 'tenant-shred', actor, keys: ['*'] });
    return n;
  });
}

async function confirmed(tenant: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`This destroys every data key of tenant '${tenant}'; its data can never be read again.\nType the tenant id to confirm: `);
    return answer.trim() === tenant;
  } finally {
    rl.close();
  }
}

export async function tenantCommand(args: ParsedArgs, config: HavenConfig, logger: Logger, print: (line: string) => void): Promise<number> {
  const [, sub, tenant] = args.positionals;
  if (sub !== 'shred' || !tenant) {
    print(TENANT_HELP);
    return 64;
  }
  if (tenant === 'default' && !args.options.has('allow-default')) {
    throw new HavenError('incorrect', 'TENANT_SHRED_DEFAULT', 'Refusing to shred the default tenant without --allow-default');
  }
  if (!args.options.has('yes') && !(await confirmed(tenant))) {
    print('Not confirmed; nothing was destroyed (use --yes for non-interactive runs)');
    return 1;
  }
  const n = await withDatabase(config, logger, (db) => shredTenant(db, tenant));
  print(`Tenant ${tenant} shredded: ${n} data key(s) destroyed; running nodes drop cached keys within seconds`);
  return 0;
}
