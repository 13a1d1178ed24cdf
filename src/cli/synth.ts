import { synthesize, synthStats } from '../synth/index.js';
import type { FhirClient } from './client.js';
import { createProgress } from './progress.js';

/** `haven synth`: generates deterministic patients and posts each as a transaction Bundle. */
export async function runSynth(client: FhirClient, options: { patients: number; seed: number; concurrency: number }) {
  const progress = createProgress('synth', options.patients);
  const stats = { patients: 0, resources: 0, byType: {} as Record<string, number> };
  const bundles = synthesize({ patients: options.patients, seed: options.seed });
  let failed = 0;
  const worker = async () => {
    for (;;) {
      const next = bundles.next();
      if (next.done) return;
      const res = await client.request('POST', '', next.value);
      if (res.status !== 200) {
        failed++;
        console.error(`patient bundle rejected (${res.status})`);
        continue;
      }
      synthStats(next.value, stats);
      progress.update(stats.patients, `resources ${stats.resources}`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  progress.finish(stats.patients, `resources ${stats.resources}`);
  return { ...stats, failed };
}
