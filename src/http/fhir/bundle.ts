import { HavenError, silentLogger, type Logger, type RequestContext } from '../../kernel/index.js';
import { parseBundle, type ParsedEntry } from './bundle-entries.js';
import { runBatch } from './bundle-batch.js';
import { bundleResponse } from './bundle-response.js';
import { runTransaction } from './bundle-transaction.js';
import type { FhirDeps } from './deps.js';
import type { FhirRouter } from './router.js';
import type { FhirRequest, FhirResponse } from './types.js';

export type BundleProcessor = (ctx: RequestContext, req: FhirRequest) => Promise<FhirResponse>;

export interface BundleOptions {
  /** Faults inside batch entries are logged here (a batch answers them per entry, not at the edge). */
  logger?: Logger;
}

/**
 * `POST [base]` with a batch or transaction Bundle (R4 http.html#transaction).
 * Entries run through the same router as single interactions; the router in
 * turn sends `POST [base]` here, so the composition root wires the two with a
 * late-bound closure.
 */
export function createBundleProcessor(deps: FhirDeps, router: FhirRouter, options: BundleOptions = {}): BundleProcessor {
  const logger = options.logger ?? silentLogger;
  return async (ctx, req) => {
    const bundle = parseBundle(deps, req);
    if (bundle.kind === 'batch') return bundleResponse('batch', await runBatch(deps, router, ctx, bundle.entries, logger));
    const bad = bundle.entries.find((e): e is HavenError => e instanceof HavenError);
    if (bad) throw bad;
    return bundleResponse('transaction', await runTransaction(deps, router, ctx, bundle.entries as ParsedEntry[]));
  };
}

export { parseEntryUrl, type BundleKind, type ParsedEntry } from './bundle-entries.js';
export { rewriteReferences } from './bundle-refs.js';
export { statusLine } from './bundle-response.js';
