import { HavenError } from '../kernel/index.js';
import type { RequestContext } from '../kernel/index.js';
import type { ResourceReader, ResourceStore, StoreTransaction } from '../store/index.js';
import type { HistoryQuery } from '../store/index.js';
import { accessFor } from './patient-access.js';
import type { CompartmentGuard } from './patient-access.js';

/**
 * Patient-compartment enforcement for tokens with a patient context, wrapped
 * around the store the FHIR interactions use: read and vread check membership
 * before the row is fetched (so nothing outside is read, decrypted or audited
 * as returned); history is allowed per instance only. Other principals pass
 * straight through.
 */
function patientOf(ctx: RequestContext): string | undefined {
  return (ctx.principal as { patient?: string }).patient;
}

function guardReader<R extends ResourceReader>(reader: R, guard: CompartmentGuard): R {
  const check = async (ctx: RequestContext, type: string, id: string) => {
    const patient = patientOf(ctx);
    if (patient === undefined) return;
    const access = accessFor(ctx.principal, type, 'read');
    if (access.kind === 'compartment') await guard.requireInCompartment(ctx, type, id, access.patient);
  };
  const history = async (ctx: RequestContext, query: HistoryQuery) => {
    const patient = patientOf(ctx);
    if (patient !== undefined) {
      const type = query.resourceType ?? '*';
      const access = accessFor(ctx.principal, type, 'read');
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

type SearchFn<Reader, Page> = (
  ctx: RequestContext,
  reader: Reader,
  resourceType: string,
  params: [string, string][],
  options: { strict: boolean },
) => Promise<Page>;

/** Adds the implicit compartment filter to every search made with a patient-context token. */
export function guardSearchForPatients<Reader, Page>(search: SearchFn<Reader, Page>, guard: CompartmentGuard): SearchFn<Reader, Page> {
  return (ctx, reader, type, params, options) => {
    const patient = patientOf(ctx);
    if (patient === undefined) return search(ctx, reader, type, params, options);
    const access = accessFor(ctx.principal, type, 'search');
    if (access.kind === 'all') return search(ctx, reader, type, params, options);
    return search(ctx, reader, type, [...params, ...guard.searchFilter(type, access.patient, params)], options);
  };
}
