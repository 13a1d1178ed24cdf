import type { Clock, Principal, TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { resolvePolicy } from './access-policy.js';
import type { ResolvedPolicy, RoleDefinition } from './access-policy.js';
import type { ElevationStore } from './elevations.js';
import type { RoleStore } from './role-store.js';

/**
 * The access a workforce user has right now: standing roles + approved,
 * unexpired elevations, and an active break-glass grant. Resolved once per
 * user and cached, so the per-request cost is a map lookup; any change made
 * through this node invalidates at once, other nodes reload within `ttlMs`.
 */
export interface EffectiveAccess {
  readonly userId: string;
  readonly roles: readonly string[];
  readonly policies: readonly ResolvedPolicy[];
  /** Active break-glass: policies are lifted (scopes still apply), purpose of use ETREAT. */
  readonly breakGlass?: { id: string; expiresAt: number };
  readonly canBreakGlass: boolean;
  readonly approver: boolean;
}

/** A principal with its resolved access (workforce users of a tenant that defines roles). */
export interface PolicyPrincipal extends Principal {
  readonly access?: EffectiveAccess;
  readonly purposeOfUse?: string;
  readonly patient?: string;
}

export interface AccessResolverDeps {
  db: Queryable;
  roles: RoleStore;
  elevations: ElevationStore;
  clock: Clock;
  ttlMs?: number;
}

interface Cached<T> {
  value: T;
  gen: number;
  until: number;
}

type RoleMap = ReadonlyMap<string, RoleDefinition & { resolved: ResolvedPolicy[] }>;

export function createAccessResolver(deps: AccessResolverDeps) {
  const ttl = deps.ttlMs ?? 2000;
  let gen = 0;
  const roleMaps = new Map<TenantId, Cached<RoleMap>>();
  const users = new Map<string, Cached<EffectiveAccess | undefined>>();
  const now = () => deps.clock.now().getTime();
  const fresh = <T>(c: Cached<T> | undefined): c is Cached<T> => c !== undefined && c.gen === gen && c.until > now();

  async function roleMap(tenant: TenantId): Promise<RoleMap> {
    const hit = roleMaps.get(tenant);
    if (fresh(hit)) return hit.value;
    const list = await deps.roles.list(tenant);
    const value: RoleMap = new Map(list.map((r) => [r.name, { ...r, resolved: r.policies.map(resolvePolicy) }]));
    roleMaps.set(tenant, { value, gen, until: now() + ttl });
    return value;
  }

  async function load(tenant: TenantId, userId: string): Promise<{ value: EffectiveAccess | undefined; until: number }> {
    const until = now() + ttl;
    const map = await roleMap(tenant);
    if (map.size === 0) return { value: undefined, until }; // the tenant defines no roles: scopes alone decide
    const res = await deps.db.query<{ roles: string[]; plane: string; disabled: boolean }>(
      'SELECT roles, plane, disabled FROM app_user WHERE tenant_id = $1 AND user_id = $2',
      [tenant, userId],
    );
    const user = res.rows[0];
    if (user?.plane === 'patient') return { value: undefined, until }; // patients: their compartment, not roles
    const standing = user && !user.disabled ? user.roles : [];
    const elevated = user ? await deps.elevations.active(tenant, userId) : [];
    const breakGlass = user ? await deps.elevations.activeBreakGlass(tenant, userId) : undefined;
    const names = [...new Set([...standing, ...elevated.map((e) => e.role)])];
    const defs = names.map((n) => map.get(n)).filter((d) => d !== undefined);
    const expiries = [until, ...elevated.map((e) => e.expiresAt), ...(breakGlass ? [breakGlass.expiresAt] : [])];
    const value: EffectiveAccess = {
      userId,
      roles: names,
      policies: defs.flatMap((d) => d.resolved),
      ...(breakGlass ? { breakGlass } : {}),
      canBreakGlass: defs.some((d) => d.breakGlass),
      approver: defs.some((d) => d.approver),
    };
    return { value, until: Math.min(...expiries) };
  }

  async function effective(tenant: TenantId, userId: string): Promise<EffectiveAccess | undefined> {
    const key = `${tenant}\u0000${userId}`;
    const hit = users.get(key);
    if (fresh(hit)) return hit.value;
    const at = gen;
    const { value, until } = await load(tenant, userId);
    // A change made while loading must not be overwritten by the stale result.
    if (at === gen) users.set(key, { value, gen, until });
    if (users.size > 10_000) users.delete(users.keys().next().value as string);
    return value;
  }

  return {
    effective,
    /** The principal with its access attached (user tokens only); clients and patients pass unchanged. */
    async attach<P extends Principal & { tenant: TenantId }>(principal: P): Promise<P> {
      if (principal.kind !== 'user') return principal;
      const access = await effective(principal.tenant, principal.subject);
      if (!access) return principal;
      return { ...principal, access, ...(access.breakGlass ? { purposeOfUse: 'ETREAT' } : {}) };
    },
    /** Roles, elevations or break-glass changed: drop every cached decision of this node. */
    invalidate(): void {
      gen += 1;
    },
  };
}

export type AccessResolver = ReturnType<typeof createAccessResolver>;
