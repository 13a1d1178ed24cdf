import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoredResource, StoreTransaction } from '../../store/index.js';
import type { FhirDeps } from './deps.js';

/**
 * Resolves the criteria of a conditional interaction (If-None-Exist, conditional
 * update/delete, conditional references) to at most one resource.
 * Several matches → 412, as the spec requires.
 */
export async function resolveConditional(
  deps: FhirDeps,
  ctx: RequestContext,
  tx: StoreTransaction,
  type: string,
  criteria: string,
  what: string,
): Promise<StoredResource | undefined> {
  const params = [...new URLSearchParams(criteria.startsWith('?') ? criteria.slice(1) : criteria)];
  if (params.length === 0) {
    throw new HavenError('incorrect', 'CONDITIONAL_NO_CRITERIA', `${what} needs search criteria`);
  }
  const page = await deps.searcher.search(ctx, tx, type, [...params, ['_count', '2']], { strict: true });
  if (page.entries.length > 1) {
    throw new HavenError('precondition', 'CONDITIONAL_MULTIPLE_MATCHES', `${what}: the criteria match more than one ${type}`);
  }
  return page.entries[0];
}
