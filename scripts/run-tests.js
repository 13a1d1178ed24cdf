#!/usr/bin/env node
// Runs the compiled test suite with node's test runner against one PostgreSQL:
// - DATABASE_URL set: that external server;
// - otherwise: an embedded PostgreSQL started here by Haven's own embedded
//   module (the same code `npm start` uses), in a temporary data directory.
// Each test file creates and drops its own database on that server.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedPostgres } from '../dist/src/store/embedded/server.js';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out.sort();
}

// Filters match compiled paths by substring; a source path (test/x.test.ts) is read as its
// compiled name. A filter that matches nothing is an error: `node --test` given no files would
// otherwise discover and run the whole suite.
const filter = process.argv.slice(2).map((p) => p.replace(/\.ts$/, '.js'));
const all = findTests('dist/test');
const unmatched = filter.filter((p) => !all.some((f) => f.includes(p)));
if (unmatched.length > 0) {
  console.error(`no test file matches: ${unmatched.join(', ')}`);
  process.exit(2);
}
const files = all.filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)));
let embedded;
let dataDir;
const env = { ...process.env };
if (process.env.DATABASE_URL) {
  env.TEST_DATABASE_URL = process.env.DATABASE_URL;
  console.log(`tests on external PostgreSQL (${new URL(process.env.DATABASE_URL).host})`);
} else {
  dataDir = mkdtempSync(join(tmpdir(), 'haven-test-'));
  embedded = createEmbeddedPostgres({ dataDir, supervise: false, settings: { max_connections: '300' } });
  await embedded.start();
  env.TEST_DATABASE_URL = embedded.adminConnectionString;
  console.log('tests on embedded PostgreSQL');
}

const concurrency = process.env.HAVEN_TEST_CONCURRENCY ?? '2';
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', env });
const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
if (embedded) await embedded.stop();
if (dataDir) rmSync(dataDir, { recursive: true, force: true });
process.exit(code);
