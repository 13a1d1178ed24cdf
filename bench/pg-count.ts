/**
 * Preloaded into the benchmarked server (`NODE_OPTIONS=--import …/pg-count.js`
 * with `BENCH_PG_COUNT_FILE` set): counts the statements the pg driver sends
 * (every `Client.query`, pooled or in a transaction, BEGIN/COMMIT included)
 * and writes the running total to that file when sent SIGUSR2, so a harness
 * can divide by the messages or resources it sent. Bench-only; never loaded by Haven itself.
 */
import { writeFileSync } from 'node:fs';
import pg from 'pg';

const file = process.env.BENCH_PG_COUNT_FILE;
if (file) {
  let count = 0;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  // Statement shapes (first 70 characters of the SQL, never parameters) when asked, to see which dominate.
  const shapes = process.env.BENCH_PG_SHAPES === '1' ? new Map<string, number>() : undefined;
  proto.query = function counted(this: unknown, ...args: unknown[]) {
    count += 1;
    if (shapes) {
      const q = args[0];
      const text = typeof q === 'string' ? q : String((q as { text?: unknown } | null)?.text ?? '?');
      const shape = text.replace(/\s+/g, ' ').slice(0, 70);
      shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
    }
    return original.apply(this, args);
  };
  const flush = () => {
    writeFileSync(file, String(count));
    if (shapes) writeFileSync(`${file}.shapes.json`, JSON.stringify([...shapes].sort((a, b) => b[1] - a[1]), null, 1));
  };
  flush();
  // On request only: a periodic write cost ~3% of the server's CPU on this VM.
  process.on('SIGUSR2', flush);
}
