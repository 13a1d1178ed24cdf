/**
 * One round of `_include`/`_revinclude` → ONE SQL statement, whatever the
 * number of source resources and specs: every spec becomes a branch of a
 * UNION ALL of (resource_type, id) pairs, batched by id arrays, and the
 * resource rows are read once. `$1` is the tenant.
 *
 * - forward literal: the sources' idx_reference rows (idx_reference_owner).
 * - forward canonical: their `url` rows joined to the targets' `url` uri
 *   index (and `version` token when the canonical is versioned).
 * - reverse: idx_reference rows pointing at the sources (idx_reference_lookup),
 *   or, for canonicals, at the sources' urls (idx_reference_url).
 */
import type { SearchParamRegistry } from '../fhir/index.js';
import type { CompiledSql } from './compile.js';
import type { IncludeSpec } from './include-parse.js';
import { createSqlParams } from './sql-params.js';
import { limitRowCondition, type CompartmentLimit } from './compartment.js';
import type { SqlParams } from './sql-params.js';
import type { CommonTargets } from './plan-stability.js';

export interface IncludeRoundOptions {
  tenant: string;
  registry: SearchParamRegistry;
  /** Resource types the caller may read; null for all. */
  readable: readonly string[] | null;
  /** `Type/id` of resources already in the result (matches and earlier rounds). */
  exclude: readonly string[];
  /** Row limit of the statement. */
  limit: number;
  /** The caller sees only this compartment: included resources outside it are never selected. */
  within?: CompartmentLimit;
  /** Reference targets whose reverse includes need custom plans (plan-stability.ts); none when absent. */
  commonTargets?: CommonTargets;
}

const VERSION_MATCH = `(i.version IS NULL OR EXISTS (SELECT 1 FROM idx_token v WHERE v.tenant_id = u.tenant_id AND v.resource_type = u.resource_type AND v.resource_id = u.resource_id AND v.param = 'version' AND v.code = i.version))`;

/**
 * Types among `candidates` that are canonical resources: a `url` uri and a
 * `version` token parameter (Questionnaire, ValueSet, …). Device also has a
 * `url` (a network address), which a canonical must not resolve to.
 */
function canonicalTypes(registry: SearchParamRegistry, candidates: readonly string[]): string[] {
  return candidates.filter((t) => registry.get(t, 'url')?.type === 'uri' && registry.get(t, 'version')?.type === 'token');
}

/** The sources' literal references under `codes` (idx_reference_owner), narrowed to `targetType` when given. */
function literalBranch(sourceType: string, targetType: string | null, codes: string[], ids: string[], p: SqlParams): string {
  const narrow = targetType === null ? '' : ` AND i.target_type = ${p.add(targetType)}`;
  return `SELECT i.target_type, i.target_id FROM idx_reference i WHERE i.tenant_id = $1 AND i.resource_type = ${p.add(sourceType)} AND i.resource_id = ANY(${p.add(ids, 'text[]')}) AND i.param = ANY(${p.add(codes, 'text[]')}) AND i.target_id IS NOT NULL${narrow}`;
}

/** The spec's canonical references resolved through the targets' `url` (and `version`), when a target type can be canonical. */
function canonicalBranch(spec: IncludeSpec, ids: string[], o: IncludeRoundOptions, p: SqlParams): string | null {
  const targets = spec.targetType !== null ? [spec.targetType] : [...new Set(spec.params.flatMap((d) => d.target))];
  const canonical = canonicalTypes(o.registry, targets);
  if (canonical.length === 0) return null;
  const owner = `i.tenant_id = $1 AND i.resource_type = ${p.add(spec.sourceType)} AND i.resource_id = ANY(${p.add(ids, 'text[]')}) AND i.param = ANY(${p.add(spec.params.map((d) => d.code), 'text[]')})`;
  return `SELECT u.resource_type, u.resource_id FROM idx_reference i JOIN idx_uri u ON u.tenant_id = i.tenant_id AND u.resource_type = ANY(${p.add(canonical, 'text[]')}) AND u.param = 'url' AND u.value = i.url WHERE ${owner} AND i.url IS NOT NULL AND ${VERSION_MATCH}`;
}

/**
 * Forward specs of one source type and target narrowing share ONE literal
 * branch over all their parameters: `_include=Observation:subject&_include=
 * Observation:encounter` read the sources' reference rows once, not once per
 * spec (1M resources, 20 sources: 0.21 → 0.15 ms of execution). Canonical
 * branches stay per spec, since which target types a url may resolve to
 * depends on the spec's own parameters.
 */
function forwardBranches(specs: readonly IncludeSpec[], sources: ReadonlyMap<string, string[]>, o: IncludeRoundOptions, p: SqlParams): string[] {
  const literal = new Map<string, { sourceType: string; targetType: string | null; ids: string[]; codes: Set<string> }>();
  const canonical: string[] = [];
  for (const spec of specs) {
    const ids = sources.get(spec.sourceType);
    if (spec.reverse || !ids || ids.length === 0 || spec.params.length === 0) continue;
    const key = `${spec.sourceType}\u0000${spec.targetType ?? ''}`;
    const group = literal.get(key) ?? { sourceType: spec.sourceType, targetType: spec.targetType, ids, codes: new Set<string>() };
    for (const d of spec.params) group.codes.add(d.code);
    literal.set(key, group);
    const branch = canonicalBranch(spec, ids, o, p);
    if (branch !== null) canonical.push(branch);
  }
  return [...[...literal.values()].map((g) => literalBranch(g.sourceType, g.targetType, [...g.codes], g.ids, p)), ...canonical];
}

function reverseBranches(spec: IncludeSpec, targetType: string, ids: string[], o: IncludeRoundOptions, p: SqlParams): string[] {
  if (spec.targetType !== null && spec.targetType !== targetType) return [];
  const params = spec.params.filter((d) => d.target.length === 0 || d.target.includes(targetType)).map((d) => d.code);
  if (params.length === 0) return [];
  const source = p.add(spec.sourceType);
  const codes = p.add(params, 'text[]');
  const idArray = p.add(ids, 'text[]');
  const out = [
    `SELECT i.resource_type, i.resource_id FROM idx_reference i WHERE i.tenant_id = $1 AND i.resource_type = ${source} AND i.param = ANY(${codes}) AND i.target_id = ANY(${idArray}) AND i.target_type = ${p.add(targetType)}`,
  ];
  if (canonicalTypes(o.registry, [targetType]).length > 0) {
    out.push(
      `SELECT i.resource_type, i.resource_id FROM idx_uri u JOIN idx_reference i ON i.tenant_id = u.tenant_id AND i.resource_type = ${source} AND i.param = ANY(${codes}) AND i.url = u.value WHERE u.tenant_id = $1 AND u.resource_type = ${p.add(targetType)} AND u.resource_id = ANY(${idArray}) AND u.param = 'url' AND ${VERSION_MATCH}`,
    );
  }
  return out;
}

/**
 * The statement for one round, or null when no spec applies to the sources.
 * `sources` maps a resource type to the ids the round starts from.
 */
export function compileIncludeRound(specs: readonly IncludeSpec[], sources: ReadonlyMap<string, string[]>, o: IncludeRoundOptions): CompiledSql | null {
  const p = createSqlParams([o.tenant]);
  const common = o.commonTargets;
  let commonTarget = false;
  const branches = forwardBranches(specs, sources, o, p);
  for (const spec of specs) {
    if (!spec.reverse) continue;
    for (const [type, ids] of sources) {
      const reverse = reverseBranches(spec, type, ids, o, p);
      branches.push(...reverse);
      if (reverse.length > 0 && common) commonTarget ||= ids.some((id) => common.has(id));
    }
  }
  if (branches.length === 0) return null;
  const readable = o.readable === null ? '' : `\n  AND r.resource_type = ANY(${p.add(o.readable, 'text[]')})`;
  // In SQL, not after the fetch: what lies outside is neither decrypted, audited nor followed by :iterate.
  const within = o.within ? `\n  AND ${limitRowCondition(o.within, p)}` : '';
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM resource r
WHERE r.tenant_id = $1 AND NOT r.deleted
  AND (r.resource_type, r.id) IN (${branches.join('\n    UNION ALL ')})${readable}${within}
  AND NOT (r.resource_type || '/' || r.id = ANY(${p.add(o.exclude, 'text[]')}))
ORDER BY r.resource_type, r.id
LIMIT ${p.add(o.limit, 'bigint')}`;
  // Plan-stable (plan-stability.ts): it selects by ids, the sources' or, in reverse, their referrers' —
  // unless a source is a target so common that the planner would choose differently for it.
  return { sql, params: p.values, ...(commonTarget ? {} : { stablePlan: true }) };
}
