import { HavenError } from '../kernel/index.js';
import type { Clock, TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { SessionPolicy } from './sessions.js';

/**
 * Settings a tenant may override (table tenant_setting); every member left
 * out falls back to the server-wide default from the configuration. Read on
 * every sign-in page, so the effective values are cached per tenant: a change
 * made through this node applies at once, other nodes see it within `ttlMs`.
 */
export interface TenantSettings {
  /** Auto-logoff: a sign-in session ends after this many minutes without a request. */
  sessionIdleMinutes: number;
  /** A sign-in session ends this many hours after login, whatever happens. */
  sessionMaxHours: number;
}

export type TenantOverrides = Partial<TenantSettings>;

/** Bounds of each setting, the same as the server-wide variables' (src/config/schema.ts). */
const LIMITS: Record<keyof TenantSettings, { min: number; max: number }> = {
  sessionIdleMinutes: { min: 1, max: 1440 },
  sessionMaxHours: { min: 1, max: 168 },
};

function invalid(message: string, member?: string): HavenError {
  return new HavenError('incorrect', 'AUTH_SETTINGS_INVALID', message, member ? { expression: [member] } : undefined);
}

/**
 * A change from the admin API: each member an integer within its bounds, or
 * `null` to go back to the server-wide default. Unknown members are refused
 * (a typo would otherwise silently keep the old value).
 */
export function parseSettingsPatch(body: unknown): { [K in keyof TenantSettings]?: number | null } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('The body must be a JSON object');
  const out: { [K in keyof TenantSettings]?: number | null } = {};
  for (const [key, value] of Object.entries(body)) {
    if (!(key in LIMITS)) throw invalid(`Unknown setting: ${key}`, key);
    const k = key as keyof TenantSettings;
    const { min, max } = LIMITS[k];
    if (value !== null && (!Number.isInteger(value) || (value as number) < min || (value as number) > max)) {
      throw invalid(`${key} must be an integer from ${min} to ${max}, or null for the server default`, key);
    }
    out[k] = value as number | null;
  }
  if (Object.keys(out).length === 0) throw invalid('No setting to change');
  return out;
}

/** Only the known, well-formed members of a stored row: a bad value there must not break sign-in. */
function overridesOf(stored: Record<string, unknown>): TenantOverrides {
  const out: TenantOverrides = {};
  for (const k of Object.keys(LIMITS) as (keyof TenantSettings)[]) {
    const v = stored[k];
    if (Number.isInteger(v) && (v as number) >= LIMITS[k].min && (v as number) <= LIMITS[k].max) out[k] = v as number;
  }
  return out;
}

export interface TenantSettingsDeps {
  db: Queryable;
  clock: Clock;
  defaults: TenantSettings;
  ttlMs?: number;
}

export function createTenantSettings(deps: TenantSettingsDeps) {
  const ttl = deps.ttlMs ?? 2000;
  const cache = new Map<TenantId, { overrides: TenantOverrides; until: number }>();

  async function overrides(tenant: TenantId): Promise<TenantOverrides> {
    const now = deps.clock.now().getTime();
    const hit = cache.get(tenant);
    if (hit && hit.until > now) return hit.overrides;
    const res = await deps.db.query<{ settings: Record<string, unknown> }>('SELECT settings FROM tenant_setting WHERE tenant_id = $1', [tenant]);
    const value = overridesOf(res.rows[0]?.settings ?? {});
    cache.set(tenant, { overrides: value, until: now + ttl });
    return value;
  }

  async function effective(tenant: TenantId): Promise<TenantSettings> {
    return { ...deps.defaults, ...(await overrides(tenant)) };
  }

  return {
    /** The values in force and which of them the tenant overrides. */
    async describe(tenant: TenantId): Promise<{ effective: TenantSettings; overrides: TenantOverrides; defaults: TenantSettings }> {
      const o = await overrides(tenant);
      return { effective: { ...deps.defaults, ...o }, overrides: o, defaults: deps.defaults };
    },
    effective,
    /** Applies a patch (null removes an override) in one statement; returns the new overrides. */
    async update(tenant: TenantId, patch: { [K in keyof TenantSettings]?: number | null }, actor: string): Promise<TenantOverrides> {
      const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null));
      const unset = Object.entries(patch).filter(([, v]) => v === null).map(([k]) => k);
      const res = await deps.db.query<{ settings: Record<string, unknown> }>(
        `INSERT INTO tenant_setting (tenant_id, settings, updated_by) VALUES ($1, $2::jsonb, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET settings = (tenant_setting.settings - $3::text[]) || $2::jsonb, updated_by = $4, updated_at = now()
         RETURNING settings`,
        [tenant, JSON.stringify(set), unset, actor],
      );
      cache.delete(tenant);
      return overridesOf(res.rows[0]?.settings ?? {});
    },
    /** The session time-outs of a tenant, as the session store applies them. */
    async sessionPolicy(tenant: TenantId): Promise<SessionPolicy> {
      const s = await effective(tenant);
      return { idleMs: s.sessionIdleMinutes * 60_000, maxMs: s.sessionMaxHours * 3_600_000 };
    },
  };
}

export type TenantSettingsStore = ReturnType<typeof createTenantSettings>;
