import { HavenError } from '../kernel/index.js';
import type { Principal } from '../kernel/index.js';

/**
 * SMART App Launch scopes, v1 (`system/Patient.read`) and v2 (`system/Patient.rs`,
 * with an optional granular `?param=value` suffix).
 * The helpers below answer for unfiltered `system/` scopes only (bulk, operations);
 * FHIR interactions use `accessFor` (patient-access.ts), which also enforces
 * `user/`, `patient/` and granular scopes.
 */
export type ScopeContext = 'system' | 'user' | 'patient';
export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface ParsedScope {
  raw: string;
  context: ScopeContext;
  /** A resource type or '*'. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  version: 1 | 2;
  /** Granular v2 filter, normalised (`category=laboratory`); enforced in SQL (guard-store.ts). */
  query?: string;
  params?: ReadonlyArray<readonly [string, string]>;
}

const scopePattern = /^(system|user|patient)\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)(?:\?(.+))?$/;
const v2Pattern = /^c?r?u?d?s?$/;
const v1Permissions: Record<string, Permission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};
const interactionPermission: Record<Interaction, Permission> = {
  create: 'c',
  read: 'r',
  update: 'u',
  delete: 'd',
  search: 's',
};

function parseQuery(query: string): Array<readonly [string, string]> | undefined {
  const params = [...new URLSearchParams(query).entries()];
  if (params.length === 0 || params.some(([name]) => name === '')) return undefined;
  return params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Parse one SMART resource scope; undefined for anything else (`openid`, `launch`, malformed). */
export function parseScope(raw: string): ParsedScope | undefined {
  const m = scopePattern.exec(raw);
  if (!m) return undefined;
  const [, context, resourceType, perms, query] = m as unknown as [string, ScopeContext, string, string, string?];
  const v1 = v1Permissions[perms];
  // v1 has no granular form; `read`/`write` never match the v2 letters, so there is no ambiguity.
  if (v1) {
    if (query !== undefined) return undefined;
    return { raw, context, resourceType, permissions: new Set(v1), version: 1 };
  }
  if (perms === '' || !v2Pattern.test(perms)) return undefined;
  const scope: ParsedScope = { raw, context, resourceType, permissions: new Set([...perms] as Permission[]), version: 2 };
  if (query === undefined) return scope;
  const params = parseQuery(query);
  if (!params) return undefined;
  return { ...scope, params, query: new URLSearchParams(params.map(([k, v]) => [k, v] as [string, string])).toString() };
}

/** Split a space-separated scope string (or list) into parsed SMART scopes and everything else. */
export function parseScopes(scopes: string | readonly string[]): { smart: ParsedScope[]; other: string[] } {
  const list = typeof scopes === 'string' ? splitScopes(scopes) : scopes;
  const smart: ParsedScope[] = [];
  const other: string[] = [];
  for (const raw of list) {
    const parsed = parseScope(raw);
    if (parsed) smart.push(parsed);
    else other.push(raw);
  }
  return { smart, other };
}

export function splitScopes(scope: string): string[] {
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))];
}

/** True when `allowed` grants everything `requested` asks for (same context, type, permissions, filter). */
export function scopeCovers(allowed: ParsedScope, requested: ParsedScope): boolean {
  if (allowed.context !== requested.context) return false;
  if (allowed.resourceType !== '*' && allowed.resourceType !== requested.resourceType) return false;
  for (const p of requested.permissions) if (!allowed.permissions.has(p)) return false;
  // An unfiltered allowed scope covers any filter; a filtered one covers only the identical filter.
  return allowed.query === undefined || allowed.query === requested.query;
}

/**
 * The scopes to grant: each requested scope that the client's allowed scopes
 * cover, kept in the form the client asked for. Non-SMART scopes need an exact match.
 */
export function grantScopes(requested: readonly string[], allowed: readonly string[]): string[] {
  const allowedParsed = parseScopes(allowed).smart;
  const exact = new Set(allowed);
  return requested.filter((raw) => {
    if (exact.has(raw)) return true;
    const parsed = parseScope(raw);
    return parsed !== undefined && allowedParsed.some((a) => scopeCovers(a, parsed));
  });
}

// Principals from the token verifier are cached and reused, so parse each scope list once.
const parsedByList = new WeakMap<readonly string[], ParsedScope[]>();

function systemScopes(principal: Principal): ParsedScope[] {
  let parsed = parsedByList.get(principal.scopes);
  if (!parsed) {
    parsed = parseScopes(principal.scopes).smart.filter((s) => s.context === 'system');
    parsedByList.set(principal.scopes, parsed);
  }
  return parsed;
}

/**
 * The system scopes that grant `interaction` on `resourceType`, including
 * granular (filtered) ones, for callers that enforce filters.
 */
export function grantingScopes(principal: Principal, resourceType: string, interaction: Interaction): ParsedScope[] {
  const p = interactionPermission[interaction];
  return systemScopes(principal).filter(
    (s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(p),
  );
}

/** True when an unfiltered system scope grants `interaction` on `resourceType`. */
export function scopeAllows(principal: Principal, resourceType: string, interaction: Interaction): boolean {
  return grantingScopes(principal, resourceType, interaction).some((s) => s.query === undefined);
}

/**
 * Throw 403 unless an unfiltered system scope grants the interaction.
 * Granular scopes do not pass here: callers of this helper cannot apply their
 * criteria, so honouring them would widen access beyond what was granted (fail closed).
 */
export function requireScope(principal: Principal, resourceType: string, interaction: Interaction): void {
  if (scopeAllows(principal, resourceType, interaction)) return;
  throw new HavenError(
    'forbidden',
    'AUTH_SCOPE_INSUFFICIENT',
    `The granted scopes do not permit ${interaction} on ${resourceType}`,
    { expression: [resourceType] },
  );
}

/** For system-level search/history across all types: an unfiltered `system/*` scope grants it. */
export function scopeAllowsAllTypes(principal: Principal, interaction: Interaction): boolean {
  return scopeAllows(principal, '*', interaction);
}

/** True when some unfiltered system scope grants `interaction` on at least one type. */
export function scopeAllowsAny(principal: Principal, interaction: Interaction): boolean {
  const p = interactionPermission[interaction];
  return systemScopes(principal).some((s) => s.query === undefined && s.permissions.has(p));
}

/**
 * The resource types on which `interaction` is allowed without filter: '*' for
 * all, else the explicit set, so a cross-type search/history can be narrowed.
 */
export function allowedResourceTypes(principal: Principal, interaction: Interaction): '*' | Set<string> {
  if (scopeAllowsAllTypes(principal, interaction)) return '*';
  const p = interactionPermission[interaction];
  const types = new Set<string>();
  for (const s of systemScopes(principal)) if (s.query === undefined && s.permissions.has(p)) types.add(s.resourceType);
  return types;
}
