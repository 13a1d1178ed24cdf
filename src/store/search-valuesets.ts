import { HavenError, type RequestContext } from '../kernel/index.js';
import type { SearchQuery, ValueSetValue } from '../search/index.js';
import type { ResourceReader } from './resource-store.js';

/** The codes of a value set from the R4 core package, as `system|code` pairs; undefined when it has none or cannot be enumerated. */
export type ExpandValueSet = (url: string) => { pairs: ReadonlySet<string> } | undefined;

/** Every `:in` / `:not-in` value in the queries, however deep (chains, `_has`, access-policy groups). */
function valueSetValues(node: unknown, out: ValueSetValue[]): void {
  if (Array.isArray(node)) {
    for (const item of node) valueSetValues(item, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  if ((node as { kind?: unknown }).kind === 'valueset') {
    out.push(node as ValueSetValue);
    return;
  }
  for (const key in node) if (Object.hasOwn(node, key)) valueSetValues((node as Record<string, unknown>)[key], out);
}

/**
 * Before a search with `:in` / `:not-in` is compiled: a ValueSet stored on the
 * server (by its url) is matched through its index rows; one that is not
 * stored but is an R4 core value set Haven can enumerate gets its expansion
 * attached; any other url is refused. Without this an unknown url silently
 * matched nothing, and `:not-in` everything.
 */
export async function resolveValueSets(ctx: RequestContext, reader: ResourceReader, queries: SearchQuery[], expand: ExpandValueSet | undefined): Promise<void> {
  const values: ValueSetValue[] = [];
  valueSetValues(queries, values);
  if (values.length === 0) return;
  const urls = [...new Set(values.map((v) => v.url))];
  const rows = await reader.rows(ctx, {
    sql: `SELECT DISTINCT value FROM idx_uri WHERE tenant_id = $1 AND resource_type = 'ValueSet' AND param = 'url' AND value = ANY($2::text[])`,
    params: [ctx.tenant, urls],
  });
  const stored = new Set(rows.map((r) => String(r.value)));
  for (const v of values) {
    if (stored.has(v.url)) continue;
    const set = expand?.(v.url.split('|')[0]!);
    if (!set) {
      throw new HavenError('incorrect', 'SEARCH_VALUESET_UNKNOWN', `No ValueSet ${v.url.slice(0, 200)} is stored on this server, and it is not an R4 core value set Haven can expand`, {
        expression: [':in'],
      });
    }
    const systems: string[] = [];
    const codes: string[] = [];
    for (const pair of set.pairs) {
      const bar = pair.lastIndexOf('|');
      systems.push(pair.slice(0, bar));
      codes.push(pair.slice(bar + 1));
    }
    v.expansion = { systems, codes };
  }
}
