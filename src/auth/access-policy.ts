import { HavenError } from '../kernel/index.js';

/**
 * Access policies of roles (docs/security/identity.md, Access policies). A role
 * grants resource types × interactions, optionally narrowed by FHIR search
 * criteria and/or a compartment, optionally with top-level elements hidden.
 * Several policies for one type are OR-ed; a token's scopes still apply on top.
 */
export const POLICY_INTERACTIONS = ['read', 'search', 'create', 'update', 'delete', 'history', 'operations'] as const;
export type PolicyInteraction = (typeof POLICY_INTERACTIONS)[number];

export interface AccessPolicy {
  /** A resource type or '*'. */
  resourceType: string;
  interactions: PolicyInteraction[];
  /** Search criteria as a query string (`organization=Organization/1&active=true`), AND-ed. */
  criteria?: string;
  /** `Patient/<id>`, or `Patient/{patient}` for the token's patient context. */
  compartment?: string;
  /** Top-level elements removed from every response (`telecom`, `address`). */
  hide?: string[];
}

export interface RoleDefinition {
  name: string;
  policies: AccessPolicy[];
  /** Holders may start break-glass access. */
  breakGlass: boolean;
  /** Holders may approve other users' elevation requests. */
  approver: boolean;
}

/** A policy ready for enforcement: criteria parsed into `[param, value]` pairs. */
export interface ResolvedPolicy {
  resourceType: string;
  interactions: ReadonlySet<PolicyInteraction>;
  criteria: ReadonlyArray<readonly [string, string]>;
  compartment?: string;
  hide: readonly string[];
}

const ROLE = /^[a-z][a-z0-9-]{0,63}$/;
const TYPE = /^(\*|[A-Z][A-Za-z]{0,63})$/;
const ELEMENT = /^[a-z][A-Za-z0-9]{0,63}$/;
const COMPARTMENT = /^Patient\/([A-Za-z0-9\-.]{1,64}|\{patient\})$/;
const FORBIDDEN_HIDE = new Set(['id', 'meta', 'resourceType']);

function bad(message: string, expression: string): HavenError {
  return new HavenError('incorrect', 'AUTH_ROLE_INVALID', message, { expression: [expression] });
}

export function isRoleName(name: string): boolean {
  return ROLE.test(name);
}

/** `[param, value]` pairs of a criteria query string (a leading `Type?` is accepted and must match). */
export function criteriaPairs(resourceType: string, criteria: string | undefined): Array<readonly [string, string]> {
  if (criteria === undefined || criteria === '') return [];
  const q = criteria.includes('?') ? criteria.slice(criteria.indexOf('?') + 1) : criteria;
  const prefix = criteria.includes('?') ? criteria.slice(0, criteria.indexOf('?')) : resourceType;
  if (prefix !== resourceType) throw bad(`criteria "${prefix}?…" do not match the policy type ${resourceType}`, 'criteria');
  return [...new URLSearchParams(q).entries()];
}

const ROLE_MEMBERS = new Set(['name', 'policies', 'breakGlass', 'approver']);
const POLICY_MEMBERS = new Set(['resourceType', 'interactions', 'criteria', 'compartment', 'hide']);

/**
 * A member the parser does not know is refused, not dropped: a misspelt `criteria` or `hide` would
 * otherwise leave a policy broader than its author wrote, silently.
 */
function rejectUnknownMembers(o: Record<string, unknown>, known: Set<string>, at: string): void {
  const unknown = Object.keys(o).find((k) => !known.has(k));
  if (unknown !== undefined) throw bad(`unknown member "${unknown}" (expected ${[...known].join(', ')})`, at === '' ? unknown : `${at}.${unknown}`);
}

function parsePolicy(raw: unknown, at: string, checkCriteria: (type: string, pairs: Array<readonly [string, string]>) => void): AccessPolicy {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('each policy must be an object', at);
  const p = raw as Record<string, unknown>;
  rejectUnknownMembers(p, POLICY_MEMBERS, at);
  const type = p['resourceType'];
  if (typeof type !== 'string' || !TYPE.test(type)) throw bad('resourceType must be a resource type or "*"', `${at}.resourceType`);
  const interactions = p['interactions'];
  if (!Array.isArray(interactions) || interactions.length === 0 || !interactions.every((i) => (POLICY_INTERACTIONS as readonly unknown[]).includes(i))) {
    throw bad(`interactions must list some of ${POLICY_INTERACTIONS.join(', ')}`, `${at}.interactions`);
  }
  const policy: AccessPolicy = { resourceType: type, interactions: [...new Set(interactions as PolicyInteraction[])] };
  const { criteria, compartment, hide } = p;
  if (criteria !== undefined) {
    if (typeof criteria !== 'string' || criteria.length > 1024) throw bad('criteria must be a query string', `${at}.criteria`);
    if (type === '*') throw bad('criteria need a single resource type', `${at}.criteria`);
    checkCriteria(type, criteriaPairs(type, criteria));
    policy.criteria = criteria.includes('?') ? criteria.slice(criteria.indexOf('?') + 1) : criteria;
  }
  if (compartment !== undefined) {
    if (typeof compartment !== 'string' || !COMPARTMENT.test(compartment)) throw bad('compartment must be Patient/<id> or Patient/{patient}', `${at}.compartment`);
    policy.compartment = compartment;
  }
  if (hide !== undefined) {
    if (!Array.isArray(hide) || !hide.every((h) => typeof h === 'string' && ELEMENT.test(h) && !FORBIDDEN_HIDE.has(h))) {
      throw bad('hide must list top-level element names (not id, meta)', `${at}.hide`);
    }
    // An update from a client that cannot see an element would erase it: hiding and writing do not mix.
    if (hide.length > 0 && policy.interactions.some((i) => i === 'create' || i === 'update')) {
      throw bad('a policy that hides elements cannot grant create or update', `${at}.hide`);
    }
    policy.hide = [...new Set(hide as string[])];
  }
  return policy;
}

/** Validates an admin-supplied role definition; criteria are checked by the search parser (strict). */
export function parseRoleDefinition(
  name: string,
  body: unknown,
  checkCriteria: (type: string, pairs: Array<readonly [string, string]>) => void,
): RoleDefinition {
  if (!isRoleName(name)) throw bad('role names are [a-z][a-z0-9-]*', 'name');
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('the role must be a JSON object', 'role');
  const b = body as Record<string, unknown>;
  rejectUnknownMembers(b, ROLE_MEMBERS, '');
  // `name` is accepted so that what GET returns can be sent back as it is; it must be this role's.
  if (b['name'] !== undefined && b['name'] !== name) throw bad(`name "${String(b['name'])}" differs from the role in the URL (${name})`, 'name');
  for (const flag of ['breakGlass', 'approver'] as const) {
    if (b[flag] !== undefined && typeof b[flag] !== 'boolean') throw bad(`${flag} must be true or false`, flag);
  }
  const policies = b['policies'] ?? [];
  if (!Array.isArray(policies) || policies.length > 200) throw bad('policies must be an array (at most 200)', 'policies');
  return {
    name,
    policies: policies.map((p, i) => parsePolicy(p, `policies[${i}]`, checkCriteria)),
    breakGlass: b['breakGlass'] === true,
    approver: b['approver'] === true,
  };
}

export function resolvePolicy(p: AccessPolicy): ResolvedPolicy {
  return {
    resourceType: p.resourceType,
    interactions: new Set(p.interactions),
    criteria: criteriaPairs(p.resourceType, p.criteria),
    ...(p.compartment ? { compartment: p.compartment } : {}),
    hide: p.hide ?? [],
  };
}
