import { dropHeldReads } from '../audit/index.js';
import { HavenError } from '../kernel/index.js';
import type { RequestContext } from '../kernel/index.js';
import type { ResourceReader, ResourceStore, StoreTransaction } from '../store/index.js';
import type { HistoryQuery } from '../store/index.js';
import { accessFor, hasGranular, limitedToCompartment } from './patient-access.js';
import type { CompartmentGuard, ScopeFilters } from './patient-access.js';
import type { StoreHooks, StoredResource, WriteOperation } from '../store/index.js';
import type { CompartmentLimit } from '../search/index.js';

/**
 * Patient-compartment enforcement for tokens with a patient context, wrapped
 * around the store the FHIR interactions use: read and vread check membership
 * before the row is fetched (so nothing outside is read, decrypted or audited
 * as returned); history is allowed per instance only. Granular scopes
 * (`patient/Observation.rs?category=…`) are enforced the same way, for any
 * principal: read, vread and instance history check the criteria in SQL
 * first; search gets them AND-ed into its SQL (`restrict`); included
 * resources are checked by the same SQL. Other principals pass straight through.
 */
function patientOf(ctx: RequestContext): string | undefined {
  return (ctx.principal as { patient?: string }).patient;
}

function guardReader<R extends ResourceReader>(reader: R, guard: CompartmentGuard): R {
  const check = async (ctx: RequestContext, type: string, id: string) => {
    const patient = patientOf(ctx);
    if (patient === undefined && !hasGranular(ctx.principal)) return;
    const access = accessFor(ctx.principal, type, 'read');
    if (access.kind === 'compartment') await guard.requireInCompartment(ctx, type, id, access.patient);
    if (access.filters) await guard.requireMatch(ctx, type, id, access.filters, 'read');
  };
  const history = async (ctx: RequestContext, query: HistoryQuery) => {
    const patient = patientOf(ctx);
    if (patient !== undefined || hasGranular(ctx.principal)) {
      const type = query.resourceType ?? '*';
      const access = accessFor(ctx.principal, type, 'read');
      if (access.filters) {
        if (!query.resourceType || !query.id) {
          throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', 'Type and system history are not allowed with granular scopes; ask for one resource\'s history', { expression: [type] });
        }
        await guard.requireMatch(ctx, query.resourceType, query.id, access.filters, 'read');
      }
      if (access.kind === 'compartment') {
        if (!query.resourceType || !query.id) {
          throw new HavenError('forbidden', 'AUTH_PATIENT_COMPARTMENT', 'Type and system history are not yet allowed with patient/ scopes; ask for one resource\'s history');
        }
        await guard.requireInCompartment(ctx, query.resourceType, query.id, access.patient);
      }
    }
    return reader.history(ctx, query);
  };
  return Object.assign(Object.create(reader) as R, {
    read: async (ctx: RequestContext, type: string, id: string) => {
      await check(ctx, type, id);
      return reader.read(ctx, type, id);
    },
    vread: async (ctx: RequestContext, type: string, id: string, version: number) => {
      await check(ctx, type, id);
      return reader.vread(ctx, type, id, version);
    },
    history,
  });
}

export function guardStoreForPatients(store: ResourceStore, guard: CompartmentGuard): ResourceStore {
  const guarded = guardReader(store, guard);
  return Object.assign(guarded, {
    transaction: <T>(ctx: RequestContext, work: (tx: StoreTransaction) => Promise<T>) =>
      store.transaction(ctx, (tx) => work(guardReader(tx, guard))),
  });
}

/** The patient whose compartment limits this write, or undefined when no `patient/` scope is what grants it. Throws 403 when nothing grants it. */
function writerPatient(ctx: RequestContext, type: string, interaction: 'create' | 'update' | 'delete'): string | undefined {
  if (patientOf(ctx) === undefined) return undefined;
  const access = accessFor(ctx.principal, type, interaction);
  return access.kind === 'compartment' ? access.patient : undefined;
}

const typeOf = (op: WriteOperation) => (op.kind === 'delete' ? op.resourceType : op.resource.resourceType);

/**
 * Writes under `patient/` scopes, limited to the token's patient's compartment, as
 * store hooks: every write — FHIR create/update/patch/delete, their conditional
 * forms, Bundle entries — goes through the store's one write path, so none can skip
 * them, and they run inside the write's transaction (a refusal rolls it back).
 * Before: an update or delete must find the current version in the compartment
 * (same check and same 403 as a read, so another patient's id and a missing id
 * look alike; update-as-create is therefore refused), a create must be of a type
 * the compartment can hold; the Patient itself only by its own id. After: the new
 * version must be in the compartment by the same membership, judged on the
 * transaction's fresh index rows. Neither may change which OTHER patients'
 * compartments the resource is in (a shared resource keeps its other links; a
 * create has none; a delete of a shared one is refused): a write never moves a
 * resource into or out of another patient's compartment. A resource written twice
 * in one call is refused: only its last version could be checked.
 */
export function attachPatientWriteGuard(hooks: StoreHooks, guard: CompartmentGuard): void {
  // The other patients each current version links to, from before the write to after it (same call).
  const before = new WeakMap<RequestContext, Map<string, string[]>>();
  hooks.beforeWrite.push(async (ctx, op) => {
    const type = typeOf(op);
    const patient = writerPatient(ctx, type, op.kind);
    if (patient === undefined) return;
    if (op.kind === 'create') return guard.requireMemberType(type);
    const { inside, others } = await guard.writeStanding(ctx, type, op.id, patient);
    // The read's answer first: nothing more is said about a resource outside (or missing).
    if (!inside) throw guard.outside(type);
    if (op.kind === 'delete' && others.length > 0) throw guard.refuseWrite(type, 'cannot delete a resource that is also in another patient\'s compartment');
    let map = before.get(ctx);
    if (!map) before.set(ctx, (map = new Map()));
    map.set(`${type}/${op.id}`, others);
  });
  hooks.afterWrite.push(async (ctx, tx, results) => {
    if (patientOf(ctx) === undefined) return;
    const seen = new Set<string>();
    for (const r of results) {
      const { resourceType: type, id } = r.stored;
      const patient = writerPatient(ctx, type, r.operation);
      if (patient === undefined) continue;
      const key = `${type}/${id}`;
      if (seen.has(key)) throw guard.refuseWrite(type, `may write ${key} only once per request`);
      seen.add(key);
      if (r.operation === 'delete' || r.noop) continue;
      // Refused before too (no current version is outside); kept so that no path creates by update.
      if (r.operation === 'update' && r.created) throw guard.refuseWrite(type, 'cannot create by update');
      const now = await guard.writeStanding(ctx, type, id, patient, tx);
      if (!now.inside) throw guard.refuseWrite(type, `must leave the resource in this token's patient compartment (Patient/${patient})`);
      const was = r.operation === 'create' ? [] : before.get(ctx)?.get(key);
      if (was === undefined || was.join(' ') !== now.others.join(' ')) {
        throw guard.refuseWrite(type, 'cannot add or remove references that put the resource in another patient\'s compartment');
      }
    }
  });
}

type Restrict = ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
type CompartmentScope = { compartment: string; id: string; paramsFor(type: string): readonly string[] };
type GuardedOpts = { strict: boolean; restrict?: Restrict; within?: CompartmentLimit; compartment?: { compartment: string; id: string }; alsoIn?: CompartmentScope };
type SearchFn<Reader, Opts extends GuardedOpts, Page extends { included?: StoredResource[] }> = (
  ctx: RequestContext,
  reader: Reader,
  resourceType: string,
  params: [string, string][],
  options: Opts,
) => Promise<Page>;

/** AND of two ORs of AND groups: every pair of groups, concatenated. */
function andRestrictions(a: Restrict | undefined, b: ScopeFilters): Restrict {
  return a ? a.flatMap((x) => b.map((y) => [...x, ...y])) : b;
}

/**
 * Adds the implicit compartment condition to every search made with a patient-context
 * token, and the granular scopes' criteria (SQL, AND-ed with any policy `restrict`).
 * The condition is the patient's compartment (`alsoIn`): a resource is in it when
 * ANY parameter the CompartmentDefinition lists for its type references the
 * patient (Observation: `subject` or `performer`), as reads and `*` searches
 * decide — not one chosen parameter, which would hide what a read allows.
 * With `patient/` scopes in force, chained, `_has`, `_list` and included resources
 * are limited to the compartment too (`within`, compiled into the same SQL).
 */
export function guardSearchForPatients<Reader, Opts extends GuardedOpts, Page extends { included?: StoredResource[] }>(
  search: SearchFn<Reader, Opts, Page>,
  guard: CompartmentGuard,
): SearchFn<Reader, Opts, Page> {
  return async (ctx, reader, type, params, options) => {
    const patient = patientOf(ctx);
    const granular = hasGranular(ctx.principal);
    if (patient === undefined && !granular) return search(ctx, reader, type, params, options);
    const access = accessFor(ctx.principal, type, 'search');
    const limited = limitedToCompartment(ctx.principal);
    // `Patient/{other}/Observation` would only come back empty; refusing says why. Another compartment
    // (`Encounter/e1/Observation`) keeps its condition and gets the patient's compartment below, like any type search.
    const asked = options.compartment;
    if (limited !== undefined && asked) guard.requireOwnCompartment(asked.compartment, asked.id, limited);
    if (access.kind === 'compartment') guard.requireMemberType(type);
    let opts: Opts = access.filters ? { ...options, restrict: andRestrictions(options.restrict, access.filters) } : options;
    if (access.kind === 'compartment') opts = { ...opts, alsoIn: guard.scopeFor(access.patient) };
    if (limited !== undefined) opts = { ...opts, within: guard.limitFor(limited) };
    const page = await search(ctx, reader, type, params, opts);
    return granular && page.included && page.included.length > 0 ? { ...page, included: await filterIncluded(ctx, guard, page.included) } : page;
  };
}

/** Included resources of types read under granular scopes: only those matching the criteria (checked in SQL). */
async function filterIncluded(ctx: RequestContext, guard: CompartmentGuard, included: StoredResource[]): Promise<StoredResource[]> {
  const byType = new Map<string, string[]>();
  for (const r of included) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r.id]);
  const dropped = new Set<string>();
  for (const [type, ids] of byType) {
    let filters: ScopeFilters | undefined;
    try {
      filters = accessFor(ctx.principal, type, 'read').filters;
    } catch {
      for (const id of ids) dropped.add(`${type}/${id}`);
      continue;
    }
    if (!filters) continue;
    const ok = await guard.matching(ctx, type, ids, filters);
    for (const id of ids) if (!ok.has(id)) dropped.add(`${type}/${id}`);
  }
  const keep = (r: StoredResource) => !dropped.has(`${r.resourceType}/${r.id}`);
  dropHeldReads(ctx, included.filter((r) => !keep(r)));
  return included.filter(keep);
}

type SystemOpts = { compartment?: CompartmentScope; alsoIn?: CompartmentScope; within?: CompartmentLimit };

/**
 * System-level and `[Compartment]/{id}/*` search. The searched types are unfiltered
 * ones (search-scope.ts). With `patient/` scopes in force every branch is limited
 * to the token's patient's compartment, in SQL: a system-level or `Patient/{own}/*`
 * search becomes that compartment's search (`compartment`); another compartment
 * (`Encounter/e1/*`) keeps its own condition and is AND-ed with the patient's
 * (`alsoIn`), so only the patient's resources of that Encounter come back. Every
 * linked or included resource is limited too (`within`); a type that cannot be
 * in the patient's compartment, or another patient's compartment, is refused.
 * Included resources are checked like a type search's.
 */
export function guardSystemSearchForScopes<Reader, Opts extends SystemOpts, Page extends { included?: StoredResource[] }>(
  search: (ctx: RequestContext, reader: Reader, types: readonly string[], params: [string, string][], options: Opts) => Promise<Page>,
  guard: CompartmentGuard,
): (ctx: RequestContext, reader: Reader, types: readonly string[], params: [string, string][], options: Opts) => Promise<Page> {
  return async (ctx, reader, types, params, options) => {
    const limited = limitedToCompartment(ctx.principal);
    let opts = options;
    if (limited !== undefined) {
      for (const type of types) {
        guard.requireMemberType(type);
        accessFor(ctx.principal, type, 'search'); // throws when the scopes do not cover it (defence in depth)
      }
      const asked = options.compartment;
      if (asked) guard.requireOwnCompartment(asked.compartment, asked.id, limited);
      // Always the guard's own scope: the CompartmentDefinition's `Patient.link` would let other patients in (reads allow only the patient itself).
      const own = guard.scopeFor(limited);
      const scoped = asked && asked.compartment !== 'Patient' ? { compartment: asked, alsoIn: own } : { compartment: own };
      opts = { ...options, ...scoped, within: guard.limitFor(limited) };
    }
    const page = await search(ctx, reader, types, params, opts);
    if (!hasGranular(ctx.principal) || !page.included || page.included.length === 0) return page;
    return { ...page, included: await filterIncluded(ctx, guard, page.included) };
  };
}
