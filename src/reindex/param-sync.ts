import type { SearchParamDef } from '../fhir/index-values.js';
import { parseSearchParameter, type HavenSearchParamRegistry } from '../fhir/index.js';
import type { Queryable } from '../store/index.js';

interface SyncState {
  version: number;
  checkedAt: number;
  /** Until then every call asks the database (this node just changed a parameter). */
  eagerUntil: number;
  /** Parameter code → base types whose existing data is still being reindexed. */
  reindexing: Map<string, Set<string>>;
}

interface ParamRow {
  definition: unknown;
  code: string;
  base: string[];
  reindex_job: string | null;
}

/**
 * Reads the tenant's custom parameters and installs them as the registry's
 * custom layer, unless the version counter still equals `knownVersion`
 * (then undefined: nothing was reloaded). The version is read first, so a
 * change committed in between only makes the next check reload again.
 */
export async function loadCustomParams(
  db: Queryable,
  registry: HavenSearchParamRegistry,
  tenant: string,
  knownVersion = -1,
): Promise<{ version: number; reindexing: Map<string, Set<string>> } | undefined> {
  const v = await db.query<{ version: string }>('SELECT version FROM search_param_version WHERE tenant_id = $1', [tenant]);
  const version = Number(v.rows[0]?.version ?? 0);
  if (version === knownVersion) return undefined;
  const rows = await db.query<ParamRow>('SELECT definition, code, base, reindex_job FROM custom_search_param WHERE tenant_id = $1 ORDER BY url', [tenant]);
  const defs: SearchParamDef[] = rows.rows.map((r) => parseSearchParameter(r.definition));
  const reindexing = new Map<string, Set<string>>();
  for (const r of rows.rows) if (r.reindex_job !== null) reindexing.set(r.code, new Set(r.base));
  registry.setCustom(defs);
  return { version, reindexing };
}

/**
 * Keeps this node's custom search parameters in step with the database. The
 * hot path costs nothing within the TTL and one primary-key read after it;
 * the definitions are reloaded only when the version counter moved.
 */
export function createParamSync(db: Queryable, registry: HavenSearchParamRegistry, tenant: string, ttlMs: number) {
  const state: SyncState = { version: -1, checkedAt: 0, eagerUntil: 0, reindexing: new Map() };
  let inFlight: Promise<void> | undefined;

  async function load(): Promise<void> {
    const loaded = await loadCustomParams(db, registry, tenant, state.version);
    if (loaded) {
      state.reindexing = loaded.reindexing;
      state.version = loaded.version;
    }
    state.checkedAt = Date.now();
  }

  return {
    /** Brings the registry up to date when the TTL lapsed (or `force`). */
    async refresh(force = false): Promise<void> {
      const now = Date.now();
      const eager = now < state.eagerUntil;
      if (!force && !eager && now - state.checkedAt < ttlMs) return;
      // A forced refresh must see what committed before the call: a load already in flight may have read the version earlier.
      if (force && inFlight) await inFlight.catch(() => undefined);
      inFlight ??= load().finally(() => (inFlight = undefined));
      await inFlight;
    },
    /** This node changed a parameter: check on every call for a while, so its own next request sees it once committed. */
    changedLocally(): void {
      state.eagerUntil = Date.now() + ttlMs;
    },
    /** Whether existing `resourceType` data is still being reindexed for `code`. */
    isReindexing(resourceType: string, code: string): boolean {
      return state.reindexing.get(code)?.has(resourceType) ?? false;
    },
  };
}

export type ParamSync = ReturnType<typeof createParamSync>;

/** Bumps the tenant's version counter (inside the transaction that changed a definition or finished a job). */
export async function bumpVersion(tx: Queryable, tenant: string): Promise<void> {
  await tx.query(
    `INSERT INTO search_param_version (tenant_id, version) VALUES ($1, 1)
     ON CONFLICT (tenant_id) DO UPDATE SET version = search_param_version.version + 1`,
    [tenant],
  );
}
