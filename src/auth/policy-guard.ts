import { dropHeldReads } from '../audit/index.js';
import type { RequestContext } from '../kernel/index.js';
import type { HistoryQuery, Queryable, ResourceReader, ResourceStore, StoreHooks, StoredResource, StoreTransaction, WriteOperation } from '../store/index.js';
import { hiddenElements, maskJson, policyAccess, policyDenied, requirePolicy, restrictionFor } from './access-enforce.js';
import type { CompartmentParams, Restriction } from './access-enforce.js';
import type { PolicyInteraction } from './access-policy.js';

/**
 * Access-policy enforcement around the store and the searcher. Every criteria
 * check is SQL: the policy's criteria compiled by the search compiler, with
 * `_id` = the resources in question (`matching`). Nothing is filtered in JS
 * after a page is fetched, except included resources, whose ids are checked
 * by the same SQL before they are returned.
 */
export interface PolicyMatcher {
  /** The ids among `ids` of current, non-deleted `type` resources matching `restriction` (OR of AND groups). */
  matching(q: Queryable, ctx: RequestContext, type: string, ids: readonly string[], restriction: Restriction): Promise<Set<string>>;
}

export interface PolicyGuardDeps {
  db: Queryable;
  matcher: PolicyMatcher;
  compartments: CompartmentParams;
}

export function createPolicyGuard(deps: PolicyGuardDeps) {
  const { matcher, compartments } = deps;

  async function requireMatch(q: Queryable, ctx: RequestContext, type: string, id: string, interaction: PolicyInteraction): Promise<void> {
    const restriction = restrictionFor(ctx, type, interaction, compartments);
    if (!restriction) return;
    const found = await matcher.matching(q, ctx, type, [id], restriction);
    // Same answer whether the resource is missing or outside the policy: existence is not disclosed.
    if (!found.has(id)) throw policyDenied(type, interaction);
  }

  async function guardHistory(ctx: RequestContext, query: HistoryQuery): Promise<void> {
    if (!policyAccess(ctx)) return;
    const type = query.resourceType ?? '*';
    requirePolicy(ctx, type, 'history');
    if (query.resourceType && query.id) return requireMatch(deps.db, ctx, query.resourceType, query.id, 'history');
    // Type or system history cannot be narrowed by criteria in SQL yet: only an unfiltered policy allows it.
    if (restrictionFor(ctx, type, 'history', compartments) !== undefined) throw policyDenied(type, 'history');
  }

  function guardReader<R extends ResourceReader>(reader: R): R {
    return Object.assign(Object.create(reader) as R, {
      read: async (ctx: RequestContext, type: string, id: string) => {
        await requireMatch(deps.db, ctx, type, id, 'read');
        return reader.read(ctx, type, id);
      },
      vread: async (ctx: RequestContext, type: string, id: string, version: number) => {
        await requireMatch(deps.db, ctx, type, id, 'read');
        return reader.vread(ctx, type, id, version);
      },
      history: async (ctx: RequestContext, query: HistoryQuery) => {
        await guardHistory(ctx, query);
        return reader.history(ctx, query);
      },
    });
  }

  return {
    guardStore(store: ResourceStore): ResourceStore {
      return Object.assign(guardReader(store), {
        transaction: <T>(ctx: RequestContext, work: (tx: StoreTransaction) => Promise<T>) => store.transaction(ctx, (tx) => work(guardReader(tx))),
      });
    },
    requireMatch,
    /** Included resources of a page that the policies let the user read; the rest is dropped. */
    async filterIncluded(ctx: RequestContext, included: StoredResource[]): Promise<StoredResource[]> {
      if (!policyAccess(ctx) || included.length === 0) return included;
      const byType = new Map<string, string[]>();
      for (const r of included) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r.id]);
      const allowed = new Set<string>();
      for (const [type, ids] of byType) {
        let restriction: Restriction | undefined;
        try {
          restriction = restrictionFor(ctx, type, 'read', compartments);
        } catch {
          continue; // no read policy for this type: none of its resources are included
        }
        const ok = restriction ? await matcher.matching(deps.db, ctx, type, ids, restriction) : new Set(ids);
        for (const id of ok) allowed.add(`${type}/${id}`);
      }
      const keep = (r: StoredResource) => allowed.has(`${r.resourceType}/${r.id}`);
      dropHeldReads(ctx, included.filter((r) => !keep(r)));
      return included.filter(keep);
    },
    /** Store hooks: writes checked against the policies inside the transaction; hidden elements masked on every read. */
    attach(hooks: StoreHooks): void {
      hooks.beforeWrite.push(async (ctx, op) => beforeWrite(ctx, op));
      hooks.afterWrite.push(async (ctx, tx, results) => {
        if (!policyAccess(ctx)) return;
        for (const r of results) {
          if (r.operation === 'delete' || r.noop) continue;
          await requireMatch(tx, ctx, r.stored.resourceType, r.stored.id, r.operation === 'create' || r.created ? 'create' : 'update');
        }
      });
      hooks.afterRead.push((ctx, found) => {
        if (!policyAccess(ctx)) return;
        for (const r of found) {
          const hide = r.json === null ? [] : hiddenElements(ctx, r.resourceType);
          if (hide.length > 0 && r.json !== null) r.json = maskJson(r.json, hide);
        }
      });
    },
  };

  /** The interaction must be granted; an update or delete must also be allowed on the resource as it is now. */
  async function beforeWrite(ctx: RequestContext, op: WriteOperation): Promise<void> {
    if (!policyAccess(ctx)) return;
    if (op.kind === 'create') return requirePolicy(ctx, op.resource.resourceType, 'create');
    const type = op.kind === 'delete' ? op.resourceType : op.resource.resourceType;
    requirePolicy(ctx, type, op.kind);
    const exists = await deps.db.query('SELECT 1 FROM resource WHERE tenant_id = $1 AND resource_type = $2 AND id = $3 AND NOT deleted', [ctx.tenant, type, op.id]);
    if ((exists.rowCount ?? 0) > 0) await requireMatch(deps.db, ctx, type, op.id, op.kind);
    else if (op.kind === 'update') requirePolicy(ctx, type, 'create'); // update-as-create
  }
}

export type PolicyGuard = ReturnType<typeof createPolicyGuard>;
