/**
 * Preloaded into a benchmark's server (`node --import …/mem-trace.js`, set by
 * bench/server-process.ts when a trace file is named): samples the process's
 * memory every 50 ms into that file, one JSON line per sample, so a benchmark
 * can say what an RSS peak is made of (V8's young and old generations, large
 * objects, Buffers outside the heap) rather than only how big it was. (Not a
 * HAVEN_ variable: the server refuses unknown HAVEN_* settings.)
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env.BENCH_MEM_TRACE;
if (file) {
  writeFileSync(file, '');
  const mb = (n: number) => Math.round(n / 1024 / 10.24) / 100;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const spaces: Record<string, number> = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = mb(s.space_size);
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers), spaces })}\n`);
  }, 50);
  timer.unref();
}
