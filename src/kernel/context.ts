import type { TenantId } from './ids.js';

/** Who is calling: filled by authentication, passed explicitly to every service. */
export interface Principal {
  /** OAuth client id or user id. */
  subject: string;
  clientId: string;
  kind: 'client' | 'user' | 'system';
  /** Raw granted scopes. */
  scopes: string[];
}

/** The request context: explicit argument to every store and service call. */
export interface RequestContext {
  tenant: TenantId;
  principal: Principal;
  requestId: string;
  /** Source address, for audit. */
  sourceIp?: string;
  /** Purpose of use (e.g. TREAT), for audit. */
  purposeOfUse?: string;
}
