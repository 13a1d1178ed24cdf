import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createEmbeddedPostgres } from '../../src/store/index.js';
import { defaultSharedBuffersMb } from '../../src/store/embedded/memory.js';

/** How PostgreSQL shows a size in MB: whole GB as `NGB`. */
const sizeOf = (mb: number) => (mb % 1024 === 0 ? `${mb / 1024}GB` : `${mb}MB`);

async function count(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE TABLE IF NOT EXISTS t (n int)');
    await c.query('INSERT INTO t VALUES (1)');
    return Number((await c.query('SELECT count(*) AS n FROM t')).rows[0].n);
  } finally {
    await c.end();
  }
}

test('embedded PostgreSQL: initialise, restart, adopt a server left by a killed process', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-embedded-'));
  try {
    const first = createEmbeddedPostgres({ dataDir, supervise: false });
    await first.start();
    assert.equal(await count(first.connectionString), 1);
    assert.equal(statSync(join(dataDir, 'pg')).mode & 0o777, 0o700);
    // Listens on its private socket only: no TCP.
    const c = new pg.Client({ connectionString: first.connectionString });
    await c.connect();
    assert.equal((await c.query('SHOW listen_addresses')).rows[0].listen_addresses, '');
    assert.equal((await c.query('SHOW fsync')).rows[0].fsync, 'on');
    // Sized to the machine unless set (src/store/embedded/memory.ts).
    assert.equal((await c.query('SHOW shared_buffers')).rows[0].shared_buffers, sizeOf(defaultSharedBuffersMb()));
    await c.end();
    await first.stop();

    const started = Date.now();
    const second = createEmbeddedPostgres({ dataDir, supervise: false, sharedBuffersMb: 64 });
    await second.start();
    const restartMs = Date.now() - started;
    assert.ok(restartMs < 3000, `restart took ${restartMs} ms`);
    assert.equal(await count(second.connectionString), 2);
    const c2 = new pg.Client({ connectionString: second.connectionString });
    await c2.connect();
    assert.equal((await c2.query('SHOW shared_buffers')).rows[0].shared_buffers, '64MB');
    await c2.end();
    // Simulate Haven being killed: forget the handle, leave the server running.
    const orphanPid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const third = createEmbeddedPostgres({ dataDir, supervise: false });
    await third.start(); // must stop the orphan cleanly, then start its own
    assert.notEqual(third.pid(), orphanPid);
    assert.equal(await count(third.connectionString), 3);
    await third.stop();
    assert.equal(third.isRunning(), false);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('embedded PostgreSQL is restarted by its supervisor when it dies', { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-embedded-'));
  const server = createEmbeddedPostgres({ dataDir });
  try {
    await server.start();
    const pid = server.pid()!;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    while (!(server.isRunning() && server.pid() !== pid)) {
      assert.ok(Date.now() < deadline, 'not restarted');
      await new Promise((r) => setTimeout(r, 50));
    }
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = await count(server.connectionString).then(() => true, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'database not usable after restart');
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
