import { HavenError, type RequestContext } from '../kernel/index.js';
import type { FhirResource, ResourceReader, SearchResultPage, StoreTransaction } from '../store/index.js';
import type { MoveReferences } from '../hl7v2/ingest/index.js';

export interface MergeDeps {
  /** Resource types with a reference search parameter into the Patient compartment, and those parameters. */
  patientParams(): [string, readonly string[]][];
  search(ctx: RequestContext, reader: ResourceReader, type: string, params: [string, string][]): Promise<SearchResultPage>;
}

// History stays as it happened: who wrote what about the retired record is not rewritten.
const KEEP = new Set(['Patient', 'Provenance', 'AuditEvent', 'Consent']);
const PAGE = 500;

async function patientIds(deps: MergeDeps, ctx: RequestContext, stx: StoreTransaction, identifier: string): Promise<string[]> {
  const page = await deps.search(ctx, stx, 'Patient', [['identifier', identifier], ['_count', '10']]);
  return page.entries.map((e) => e.id);
}

/** Rewrites every `reference` equal to `from` into `to`; true when something changed. */
function rewrite(node: unknown, from: string, to: string): boolean {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, from, to)).some(Boolean);
  if (node === null || typeof node !== 'object') return false;
  const obj = node as Record<string, unknown>;
  let changed = false;
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'reference' && v === from) {
      obj[k] = to;
      changed = true;
    } else if (typeof v === 'object') changed = rewrite(v, from, to) || changed;
  }
  return changed;
}

/**
 * A40 merge (HL7 v2 → FHIR mapping IG): the converter links the two Patients;
 * here every resource of the retired patient's compartment is pointed at the
 * survivor, in the message's own transaction (so the merge is all or nothing).
 */
export function createMoveReferences(deps: MergeDeps): MoveReferences {
  return async (ctx, stx, merge) => {
    const [survivor] = await patientIds(deps, ctx, stx, merge.survivor);
    const retired = await patientIds(deps, ctx, stx, merge.retired);
    if (!survivor) throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', 'Merge: the surviving patient is not known');
    for (const old of retired.filter((id) => id !== survivor)) {
      const from = `Patient/${old}`;
      for (const [type, params] of deps.patientParams()) {
        if (KEEP.has(type)) continue;
        const seen = new Set<string>();
        for (const param of params) {
          for (;;) {
            const page = await deps.search(ctx, stx, type, [[param, from], ['_count', String(PAGE)]]);
            const writes = page.entries.filter((e) => !seen.has(e.id) && e.json !== null).map((e) => {
              seen.add(e.id);
              const resource = JSON.parse(e.json!) as FhirResource;
              return rewrite(resource, from, `Patient/${survivor}`) ? { kind: 'update' as const, resource, id: e.id } : undefined;
            });
            const ops = writes.filter((w) => w !== undefined);
            if (ops.length > 0) await stx.write(ctx, ops);
            if (!page.hasMore || ops.length === 0) break;
          }
        }
      }
    }
  };
}
