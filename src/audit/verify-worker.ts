/**
 * Worker thread for one seq range of `haven audit verify` (verify-parallel.ts):
 * its own connection, its own COPY stream, its own core for hashing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { verifyRange, type RangeTask } from './verify-range.js';

const { connection, task } = workerData as { connection: pg.ClientConfig; task: RangeTask };
const client = new pg.Client(connection);
try {
  await client.connect();
  const result = await verifyRange(client, task);
  parentPort!.postMessage({ result });
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown }).code });
} finally {
  await client.end().catch(() => undefined);
}
