import type { Task } from './jobs.js';

/**
 * The loop every queue consumer runs: N workers each lease one task at a
 * time, process it, and sleep briefly when the queue is empty (a nudge wakes
 * them at once, e.g. right after a kick-off on this node). Stopping lets each
 * worker finish or release its current task.
 */
export interface WorkerPool {
  start(): void;
  nudge(): void;
  stop(): Promise<void>;
}

export interface WorkerPoolOptions<P> {
  workers: number;
  lease(): Promise<Task<P> | undefined>;
  process(task: Task<P>, isRunning: () => boolean): Promise<void>;
  /** A lease or processing error: logged by the caller (names and codes only), then the worker idles. */
  onError(err: unknown): void;
  idleMs?: number;
}

export function createWorkerPool<P>(options: WorkerPoolOptions<P>): WorkerPool {
  let running = false;
  const loops: Promise<void>[] = [];
  const wakers = new Set<() => void>();
  const idle = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, options.idleMs ?? 1000);
      wakers.add(wake);
    });
  const wakeAll = () => {
    for (const wake of [...wakers]) wake();
  };

  async function loop(): Promise<void> {
    while (running) {
      try {
        const task = await options.lease();
        if (task) await options.process(task, () => running);
        else await idle();
      } catch (err) {
        options.onError(err);
        await idle();
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      for (let i = 0; i < options.workers; i++) loops.push(loop());
    },
    nudge: wakeAll,
    async stop() {
      running = false;
      wakeAll();
      await Promise.all(loops.splice(0));
    },
  };
}
