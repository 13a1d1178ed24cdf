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
  /**
   * Every user must pass MFA at sign-in, not only admin roles (who always must):
   * a TOTP code, or for federated sign-in the provider's `amr` (flow.ts).
   */
  mfaRequired: boolean;
}

export type TenantOverrides = Partial<TenantSettings>;
/** A change: a value per member, or null to return to the server-wide default. */
export type SettingsPatch = { [K in keyof TenantSettings]?: TenantSettings[K] | null };

type NumberSetting = 'sessionIdleMinutes' | 'sessionMaxHours';
type BooleanSetting = 'mfaRequired';

/** Bounds of each integer setting, the same as the server-wide variables' (src/config/schema.ts). */
const LIMITS: Record<NumberSetting, { min: number; max: number }> = {
  sessionIdleMinutes: { min: 1, max: 1440 },
  sessionMaxHours: { min: 1, max: 168 },
};
const BOOLEANS: readonly BooleanSetting[] = ['mfaRequired'];

const isNumberSetting = (key: string): key is NumberSetting => Object.prototype.hasOwnProperty.call(LIMITS, key);
const isBooleanSetting = (key: string): key is BooleanSetting => (BOOLEANS as readonly string[]).includes(key);
const withinLimits = (k: NumberSetting, v: unknown): v is number => Number.isInteger(v) && (v as number) >= LIMITS[k].min && (v as number) <= LIMITS[k].max;

function invalid(message: string, member?: string): HavenError {
  return new HavenError('incorrect', 'AUTH_SETTINGS_INVALID', message, member ? { expression: [member] } : undefined);
}

/**
 * A change from the admin API: each member an integer within its bounds (or a
 * boolean, for `mfaRequired`), or `null` to go back to the server-wide default.
 * Unknown members are refused (a typo would otherwise silently keep the old value).
 */
export function parseSettingsPatch(body: unknown): SettingsPatch {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('The body must be a JSON object');
  const out: SettingsPatch = {};
  for (const [key, value] of Object.entries(body)) {
    if (isBooleanSetting(key)) {
      // Strictly true/false: "false" as a string would be truthy somewhere downstream.
      if (value !== null && typeof value !== 'boolean') throw invalid(`${key} must be true or false, or null for the server default`, key);
      out[key] = value as boolean | null;
      continue;
    }
    if (!isNumberSetting(key)) throw invalid(`Unknown setting: ${key}`, key);
    const { min, max } = LIMITS[key];
    if (value !== null && !withinLimits(key, value)) throw invalid(`${key} must be an integer from ${min} to ${max}, or null for the server default`, key);
    out[key] = value as number | null;
  }
  if (Object.keys(out).length === 0) throw invalid('No setting to change');
  return out;
}

/** Only the known, well-formed members of a stored row: a bad value there must not break sign-in. */
function overridesOf(stored: Record<string, unknown>): TenantOverrides {
  const out: TenantOverrides = {};
  for (const k of Object.keys(LIMITS) as NumberSetting[]) {
    const v = stored[k];
    if (withinLimits(k, v)) out[k] = v;
  }
  for (const k of BOOLEANS) {
    const v = stored[k];
    if (typeof v === 'boolean') out[k] = v;
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
    async update(tenant: TenantId, patch: SettingsPatch, actor: string): Promise<TenantOverrides> {
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
    /** Whether every user of the tenant (not only admin roles) must pass MFA at sign-in. */
    async mfaRequired(tenant: TenantId): Promise<boolean> {
      return (await effective(tenant)).mfaRequired;
    },
  };
}

export type TenantSettingsStore = ReturnType<typeof createTenantSettings>;
