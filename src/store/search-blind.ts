import type { BlindIndexer } from '../crypto/blind-index.js';
import { blindQuery, type ProtectedParams, type SearchQuery } from '../search/index.js';

/** What the search runner needs for blind-indexed parameters: the tenant's tagger and the protected list. */
export interface SearchBlinding {
  indexer: BlindIndexer;
  policy: ProtectedParams;
}

/**
 * Replaces protected search values by their HMAC tags (src/search/blind-query.ts),
 * access-policy restrictions included. Only unwraps the key when a query
 * actually touches a protected parameter or sorts: every other search pays nothing.
 */
export async function blindPrepared<T extends { queries: SearchQuery[] }>(blind: SearchBlinding | undefined, tenant: string, prepared: T): Promise<T> {
  if (!blind) return prepared;
  // A first pass with a tagger that must not be called tells whether a key is needed at all.
  let needsKey = false;
  const probe = () => {
    needsKey = true;
    return '';
  };
  const dry = prepared.queries.map((q) => protectAll(q, blind.policy, probe));
  if (!needsKey) return { ...prepared, queries: dry };
  const queries = await blind.indexer.withTagger(tenant, (tag) => prepared.queries.map((q) => protectAll(q, blind.policy, tag)));
  return { ...prepared, queries };
}

function protectAll(q: SearchQuery, policy: ProtectedParams, tag: Parameters<typeof blindQuery>[2]): SearchQuery {
  const out = blindQuery(q, policy, tag);
  if (!q.restrict) return out;
  const restrict = q.restrict.map((group) => blindQuery({ ...q, criteria: group, sort: [] }, policy, tag).criteria);
  return { ...out, restrict };
}
