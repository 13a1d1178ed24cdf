/**
 * Core ingest and read by id alone, on a small fresh store: synthetic
 * patients as transaction Bundles (as `npm run bench` ingests them), then
 * `--reads` GETs by id at concurrency 16, reporting the rates and, per
 * resource written and per read, the server's CPU, the CPU of the PostgreSQL
 * backends of its database and the statements it sent (bench/pg-count.ts).
 * For comparing write- and read-path changes on a shared machine, where CPU
 * per unit is steadier than the rate. External PostgreSQL only. To price the
 * audit log or encryption, see bench/overhead.ts.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/ingest-cpu.js [--patients 200] [--concurrency 3] [--reads 20000] [--cpu-prof]
 */
import { resolve } from 'node:path';
import { measurePathCpu } from './path-cpu.js';
import { positiveArg } from './options.js';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
const result = await measurePathCpu({
  adminUrl,
  patients: positiveArg('patients', 200),
  concurrency: positiveArg('concurrency', 3),
  reads: positiveArg('reads', 20000),
  ...(process.argv.includes('--cpu-prof') ? { cpuProfDir: resolve('bench/results/prof') } : {}),
});
console.log(JSON.stringify(result, null, 1));
