import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startServer } from '../../src/app/server.js';
import { loadConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/kernel/index.js';
import { freePort } from '../support/server.js';
import { testServerUrl, withDatabase } from '../support/db.js';

/**
 * `haven serve` on an external database warns at start when the database's
 * collation is a language one (src/store/collation.ts), and only then: the
 * real start-up (migrations included) against a database created with ICU
 * `en-US`, and against one created with `C`.
 */
interface Logged {
  level: string;
  obj: object;
  msg: string | undefined;
}

function recordingLogger(into: Logged[]): Logger {
  const at = (level: string) => (obj: object, msg?: string) => void into.push({ level, obj, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

async function startOn(createOptions: string): Promise<Logged[]> {
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  const name = `haven_t_coll_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-collation-'));
  const logged: Logged[] = [];
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ${createOptions}`);
    const config = loadConfig({
      DATABASE_URL: withDatabase(testServerUrl(), name),
      HAVEN_PORT: String(await freePort()),
      HAVEN_DATA_DIR: dataDir,
      HAVEN_ENV: 'test',
    });
    const server = await startServer(config, recordingLogger(logged), { roles: ['api'] });
    await server.stop();
    return logged;
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const collationWarnings = (logged: Logged[]) => logged.filter((l) => l.level === 'warn' && 'collationProvider' in l.obj);

test('a database with an ICU language collation is warned about at start, naming the collation only', async (ctx) => {
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  const icu = await admin.query("SELECT 1 FROM pg_collation WHERE collprovider = 'i' LIMIT 1");
  await admin.end();
  if (icu.rowCount === 0) {
    ctx.skip('this PostgreSQL build has no ICU');
    return;
  }
  const warnings = collationWarnings(await startOn("LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"));
  assert.equal(warnings.length, 1);
  assert.deepEqual(warnings[0]!.obj, { collationProvider: 'icu', collation: 'en-US' });
  assert.match(warnings[0]!.msg ?? '', /docs\/configuration\.md/);
});

test('a database created with LOCALE \'C\' starts without the warning', async () => {
  assert.deepEqual(collationWarnings(await startOn("LOCALE_PROVIDER libc LOCALE 'C'")), []);
});
