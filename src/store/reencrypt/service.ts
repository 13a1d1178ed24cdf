import { randomUUID } from 'node:crypto';
import type { Keyring } from '../../crypto/index.js';
import type { Logger } from '../../kernel/index.js';
import type { Db } from '../db.js';
import { runReencryption } from './worker.js';

/**
 * The server's share of DEK re-encryption: every node polls the shared queue
 * (`haven keys rotate --dek --background` only enqueues), works whatever it
 * can lease, and gives a task back unfinished when it stops.
 */
export interface ReencryptService {
  start(): void;
  stop(): Promise<void>;
}

export function createReencryptService(o: { db: Db; keyring: Keyring; logger: Logger; blobDir?: string; pollMs?: number }): ReencryptService {
  const logger = o.logger.child({ component: 'dek-reencrypt' });
  const owner = `node-${randomUUID()}`;
  let abort: AbortController | undefined;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const tick = () => {
    if (!abort || running) return;
    running = runReencryption({ db: o.db, keyring: o.keyring, logger, owner, signal: abort.signal, ...(o.blobDir !== undefined ? { blobDir: o.blobDir } : {}) })
      .then(
        (r) => void (r.batches > 0 && logger.info({ batches: r.batches, tasksDone: r.tasksDone }, 'DEK re-encryption progressed')),
        () => undefined, // the task was failed back with its code (logged by the worker); retried on a later tick
      )
      .finally(() => (running = undefined));
  };
  return {
    start() {
      if (abort) return;
      abort = new AbortController();
      timer = setInterval(tick, o.pollMs ?? 5000);
      timer.unref();
    },
    async stop() {
      abort?.abort();
      abort = undefined;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
