import type { RequestContext } from '../kernel/index.js';
import type { Queryable } from './db.js';

/** A FHIR resource as JSON. Parsed once at the boundary; the store trusts its shape. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; [k: string]: unknown };
  [key: string]: unknown;
}

/** One version of a resource as the store returns it. */
export interface StoredResource {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  /** The resource JSON text (with meta.versionId/lastUpdated set); null for deletions. */
  json: string | null;
  /** HTTP method that produced this version (history). */
  method?: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /**
   * A contained resource returned alone (`_containedType=contained`): its container, whose
   * version this is; `id` is then the local id and `json` the contained resource.
   */
  container?: { resourceType: string; id: string };
}

export type WriteOperation =
  | { kind: 'create'; resource: FhirResource; id?: string }
  | { kind: 'update'; resource: FhirResource; id: string; ifMatch?: number; method?: 'PUT' | 'PATCH' }
  | { kind: 'delete'; resourceType: string; id: string; ifMatch?: number };

export interface WriteResult {
  operation: WriteOperation['kind'];
  /** True when an update created the resource (update-as-create): 201, not 200. */
  created: boolean;
  /**
   * Nothing was written: a delete of something that did not exist (or was
   * already deleted), or an update whose content equals the current version's
   * (meta.versionId and meta.lastUpdated aside). For such an update `stored`
   * is the current version, kept, with the attempted method.
   */
  noop: boolean;
  stored: StoredResource;
  /** The resource as stored (undefined for deletes). */
  resource?: FhirResource;
}

/** Hook points of the store, in the order they run. */
export interface StoreHooks {
  /** Before a resource is written (validation, authorization, consent); may throw. */
  beforeWrite: ((ctx: RequestContext, op: WriteOperation) => void | Promise<void>)[];
  /**
   * Inside the write's database transaction, after the rows are written (audit entry, outbox event).
   * Results flagged `noop` wrote nothing: audit them as attempts; anything that reacts to a change
   * (outbox, subscriptions, derived state) must skip them.
   */
  afterWrite: ((ctx: RequestContext, tx: Queryable, results: WriteResult[]) => Promise<void>)[];
  /** After PHI is read, before it is returned (audit, masking). */
  afterRead: ((ctx: RequestContext, resources: StoredResource[]) => void | Promise<void>)[];
}

export function emptyHooks(): StoreHooks {
  return { beforeWrite: [], afterWrite: [], afterRead: [] };
}
