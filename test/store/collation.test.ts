import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb } from '../../src/store/db.js';
import { databaseCollation, isBytewise } from '../../src/store/collation.js';
import { createTestDb, testServerUrl, withDatabase, type TestDb } from '../support/db.js';

/**
 * The database collation Haven warns about at start (src/store/collation.ts):
 * read from the real server, for the test database (the embedded server's
 * `--locale=C`, or the external one's default) and for a database created with
 * an ICU language collation where the server has ICU.
 */
let t: TestDb;
before(async () => {
  t = await createTestDb({ migrate: false });
});
after(async () => t?.drop());

test('code-point collations are bytewise; language ones are not', () => {
  for (const locale of ['C', 'POSIX', 'C.UTF-8', 'C.utf8']) assert.equal(isBytewise({ provider: 'libc', locale }), true, locale);
  assert.equal(isBytewise({ provider: 'builtin', locale: 'C.UTF-8' }), true);
  assert.equal(isBytewise({ provider: 'libc', locale: 'en_US.UTF-8' }), false);
  assert.equal(isBytewise({ provider: 'icu', locale: 'und' }), false);
  assert.equal(isBytewise({ provider: 'icu', locale: 'en-US' }), false);
});

test('the test database has a code-point collation', async () => {
  const c = await databaseCollation(t.db);
  assert.ok(['libc', 'builtin'].includes(c.provider), JSON.stringify(c));
  assert.equal(isBytewise(c), true, JSON.stringify(c));
});

test('a database created with an ICU language collation is reported as one', async (ctx) => {
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  const name = `haven_t_icu_${randomBytes(4).toString('hex')}`;
  try {
    const icu = await admin.query("SELECT 1 FROM pg_collation WHERE collprovider = 'i' LIMIT 1");
    if (icu.rowCount === 0) {
      ctx.skip('this PostgreSQL build has no ICU');
      return;
    }
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`);
    const db = createDb({ connectionString: withDatabase(testServerUrl(), name), maxConnections: 1 });
    try {
      const c = await databaseCollation(db);
      assert.deepEqual(c, { provider: 'icu', locale: 'en-US' });
      assert.equal(isBytewise(c), false);
    } finally {
      await db.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
});
