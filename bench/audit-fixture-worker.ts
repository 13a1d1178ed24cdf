/**
 * Worker thread of bench/audit-log-fixture.ts: builds the blocks it is given
 * (entries with Haven's own builder, their COPY tuples and leaf hashes) and
 * posts each one, at most WINDOW ahead of what the main thread has written.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildBlock, type BlockSpec } from './audit-fixture-mix.js';

const WINDOW = 3;
const { blocks } = workerData as { blocks: BlockSpec[] };
let acked = 0;
let wake: (() => void) | undefined;
parentPort!.on('message', () => {
  acked++;
  wake?.();
});
for (let i = 0; i < blocks.length; i++) {
  while (i - acked >= WINDOW) await new Promise<void>((r) => (wake = r));
  const block = buildBlock(blocks[i]!);
  parentPort!.postMessage(block); // copied, not transferred: small buffers share Node's pool
}
