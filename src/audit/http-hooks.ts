import { decodeJwt } from 'jose';
import { HavenError, isHavenError, type RequestContext, type TenantId } from '../kernel/index.js';
import type { AuditedContext } from './entry.js';
import type { AuditRecorder } from './recorder.js';
import { describeFhirRequest } from './request-info.js';
import { closeBundleScope, openBundleScope, recordBundleEntries } from './bundle-scope.js';
import { holdReads, takeHeldReads } from './store-hooks.js';

const PURPOSE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** What the HTTP edge calls; built by the composition root. */
export interface AuditHttpHooks {
  /** Adds the interaction and purpose of use to an authenticated FHIR request's context. */
  prepare(ctx: RequestContext, method: string, path: string[], purposeHeader: string | undefined): void;
  /** A FHIR request answered with an error (no PHI sent): recorded, best effort. */
  failed(ctx: RequestContext | undefined, request: FailedRequest): Promise<void>;
  /**
   * A FHIR request answered without an error, before anything is sent: records the search's held
   * reads as one entry, or an entry for a request no store hook recorded ($validate, a conditional
   * no-op, …), or a Bundle's entries its processor left unrecorded (normally none). Throws
   * AUDIT_UNAVAILABLE (503, nothing sent) when the entry cannot be made durable.
   */
  completed(ctx: RequestContext, status: number): Promise<void>;
  /** Token endpoint outcome (authentication event). */
  token(event: TokenEvent): Promise<void>;
}

export interface FailedRequest {
  tenant: TenantId;
  method: string;
  path: string[];
  status: number;
  error: unknown;
  requestId: string;
  sourceIp?: string;
}

export interface TokenEvent {
  tenant: TenantId;
  form: Record<string, string>;
  requestId: string;
  sourceIp?: string;
  error?: unknown;
}

export function createAuditHttpHooks(recorder: AuditRecorder, onFailureLost: (err: unknown) => void): AuditHttpHooks {
  return {
    prepare(ctx, method, path, purposeHeader) {
      if (purposeHeader !== undefined) {
        if (!PURPOSE.test(purposeHeader)) {
          throw new HavenError('incorrect', 'AUDIT_BAD_PURPOSE_OF_USE', 'X-Purpose-Of-Use must be a code such as TREAT (letters, digits, _ . : -, at most 64)');
        }
        ctx.purposeOfUse = purposeHeader;
      }
      const info = describeFhirRequest(method, path);
      if (!info) return;
      (ctx as AuditedContext).audit = info;
      // A search reads its page and then each include round: one entry for all of them, made in
      // `completed` (the matches and included resources, in the order read), not one per statement.
      if (info.action === 'search') holdReads(info);
      // A batch or transaction Bundle: each entry audited as that request alone, recorded together (bundle-scope.ts).
      if (info.action === 'bundle') openBundleScope(info, recorder);
    },
    async failed(ctx, request) {
      // Reads held for the request were not sent: the failure entry below is its record.
      const held = (ctx as AuditedContext | undefined)?.audit;
      if (held) {
        takeHeldReads(held);
        closeBundleScope(held);
      }
      const info = describeFhirRequest(request.method, request.path);
      if (!info) return;
      const code = isHavenError(request.error) ? request.error.code : 'INTERNAL_ERROR';
      // A failed audit write cannot itself be audited; the 503 already tells the client.
      if (code === 'AUDIT_UNAVAILABLE') return;
      const base: AuditedContext = ctx ?? anonymous(request);
      const audited: AuditedContext = { ...base, audit: (base as AuditedContext).audit ?? info };
      try {
        await recorder.record(audited, [{ action: info.action!, outcome: 'failure', outcomeCode: code, status: request.status, resources: info.resources }]);
      } catch (err) {
        onFailureLost(err);
      }
    },
    async completed(ctx, status) {
      const info = (ctx as AuditedContext).audit;
      if (!info) return;
      if (info.action === 'bundle') {
        // The Bundle processor has recorded its entries before building its response; anything left is recorded now.
        await recordBundleEntries(ctx);
        closeBundleScope(info);
      }
      const read = takeHeldReads(info);
      if (read && read.length > 0) {
        await recorder.record(ctx, [{ action: info.action!, outcome: 'success', resources: read }]);
        return;
      }
      if (info.recorded > 0 || status >= 400) return;
      await recorder.record(ctx, [{ action: info.action!, outcome: 'success', status, resources: info.resources }]);
    },
    async token(event) {
      const clientId = claimedClient(event.form);
      const ctx: AuditedContext = {
        tenant: event.tenant,
        requestId: event.requestId,
        ...(event.sourceIp ? { sourceIp: event.sourceIp } : {}),
        principal: { subject: clientId, clientId, kind: 'client', scopes: [] },
      };
      const failure = event.error === undefined ? {} : { outcomeCode: isHavenError(event.error) ? event.error.code : 'INTERNAL_ERROR' };
      await recorder.record(ctx, [{ action: 'login', outcome: event.error === undefined ? 'success' : 'failure', ...failure, resources: [] }]);
    },
  };
}

function anonymous(request: FailedRequest): AuditedContext {
  return {
    tenant: request.tenant,
    requestId: request.requestId,
    ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
    principal: { subject: 'anonymous', clientId: 'anonymous', kind: 'system', scopes: [] },
  };
}

/** The client the request claims to be (unverified when the request failed): form client_id or the assertion's iss. */
function claimedClient(form: Record<string, string>): string {
  if (form['client_id']) return form['client_id'].slice(0, 128);
  try {
    const iss = decodeJwt(form['client_assertion'] ?? '').iss;
    return typeof iss === 'string' ? iss.slice(0, 128) : 'unknown';
  } catch {
    return 'unknown';
  }
}
