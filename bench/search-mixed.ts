/**
 * Search phases that look at the benchmark set as a whole (issue 6):
 * - mixed: the whole set interleaved (search k, k+1, … round-robin) at
 *   concurrency 16 — the "set sustains ≥ 1,000 searches/s" figure — with
 *   server and PostgreSQL CPU per search beside the wall-clock rate;
 * - paging: searches followed page by page through their `next` links, with
 *   the server's RSS before, during and after (memory must stay flat).
 */
import type { CpuMeter } from './cpu-meter.js';
import { busyShare, machineTicks, perUnit } from './cpu-meter.js';
import { runLoad, type HttpClient, type LoadResult } from './http-load.js';
import { searchPath, type SearchSpec } from './searches.js';
import { rssMb, sampleRss } from './server-process.js';
import { createSamples, round, type LatencySummary } from './stats.js';

export interface MixedLoad extends LoadResult {
  searches: string[];
  /** Per search, and the share of the machine's CPU in use (`machineBusy`, cpu-meter.ts). */
  cpu: (ReturnType<typeof perUnit> & { machineBusy: number }) | null;
}

export async function runMixedLoad(client: HttpClient, searches: SearchSpec[], seconds: number, meter: CpuMeter | null): Promise<MixedLoad> {
  const n = searches.length;
  const path = (i: number) => searchPath(searches[i % n]!, Math.floor(i / n));
  const before = await meter?.snapshot();
  const ticks = machineTicks();
  const load = await runLoad({ client, concurrency: 16, seconds, maxRequests: 2_000_000, path });
  const busy = busyShare(ticks, machineTicks());
  const after = await meter?.snapshot();
  const cpu = before && after ? { ...perUnit(before, after, Math.max(1, load.requests)), machineBusy: busy } : null;
  return { ...load, searches: searches.map((s) => s.name), cpu };
}

export interface PagingResult {
  pages: number;
  searches: number;
  errors: number;
  firstError?: string;
  seconds: number;
  latency: LatencySummary;
  /**
   * Server RSS (MB): after a warm-up of `warmupPages`, at the end, and the most seen in between (sampled every
   * 250 ms). `growthMb` is the most above the post-warm-up figure at any sample: garbage collection makes the
   * end figure alone too kind.
   */
  rss: { afterWarmupMb: number; endMb: number; maxMb: number; growthMb: number };
}

interface BundleLinks {
  link?: { relation: string; url: string }[];
}

/** The path and query of the bundle's `next` link, or null on the last page. */
function nextPath(body: string): string | null {
  const next = (JSON.parse(body) as BundleLinks).link?.find((l) => l.relation === 'next');
  if (!next) return null;
  const u = new URL(next.url);
  return `${u.pathname}${u.search}`;
}

export interface PagingSpec {
  client: HttpClient;
  /** First page of the i-th search. */
  first: (i: number) => string;
  pages: number;
  warmupPages: number;
  concurrency: number;
  maxPagesPerSearch: number;
  serverPid: number;
}

/** `pages` page requests after the warm-up; each worker follows one search's next links, then starts another. */
export async function runPaging(spec: PagingSpec): Promise<PagingResult> {
  const samples = createSamples();
  let issued = 0;
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  const total = spec.warmupPages + spec.pages;
  let afterWarmupMb = Number.NaN;
  let sampler: ReturnType<typeof sampleRss> | null = null;
  const t0 = performance.now();
  async function worker(): Promise<void> {
    while (issued < total) {
      let path: string | null = spec.first(started++);
      for (let page = 0; path !== null && page < spec.maxPagesPerSearch && issued < total; page++) {
        if (issued++ === spec.warmupPages) {
          afterWarmupMb = rssMb(spec.serverPid);
          sampler = sampleRss(spec.serverPid);
        }
        const t = performance.now();
        const res = await spec.client.request('GET', path);
        if (issued > spec.warmupPages) samples.add(performance.now() - t);
        if (res.status !== 200) {
          errors++;
          firstError ??= `${res.status} ${path}: ${res.body.slice(0, 300)}`;
          break;
        }
        path = nextPath(res.body);
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  const seen = (sampler as ReturnType<typeof sampleRss> | null)?.stop();
  const endMb = rssMb(spec.serverPid);
  const maxMb = Math.max(seen?.maxMb ?? endMb, endMb);
  const latency = samples.summary();
  return {
    pages: latency.count,
    searches: started,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds: round((performance.now() - t0) / 1000),
    latency,
    rss: { afterWarmupMb, endMb, maxMb, growthMb: round(maxMb - afterWarmupMb, 1) },
  };
}
