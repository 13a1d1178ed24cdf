import type { KmsRequest } from './kms-http.js';
/**
 * A bearer token fetched on demand and reused until shortly before it expires.
 * Concurrent callers share one fetch. The token is only ever put in an
 * Authorization header; it is never logged or put in an error message.
 */
export interface BearerSource {
  get(): Promise<string>;
  /** Forget the token (the service said it is no longer valid). */
  reset(): void;
}

/** A JSON request authorised with the bearer token (Google Cloud KMS and Azure Key Vault speak the same shape). */
export async function bearerJsonRequest(bearer: BearerSource, method: KmsRequest['method'], url: string, body?: Record<string, unknown>): Promise<KmsRequest> {
  return {
    method,
    url,
    headers: { Authorization: `Bearer ${await bearer.get()}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  };
}

const REFRESH_MARGIN_S = 60;

export function cachedBearer(fetchToken: () => Promise<{ token: string; expiresInS: number }>, now: () => number = Date.now): BearerSource {
  let token: string | undefined;
  let expiresAt = 0;
  let pending: Promise<string> | undefined;
  return {
    get() {
      if (token !== undefined && now() < expiresAt) return Promise.resolve(token);
      pending ??= fetchToken().then(
        (t) => {
          token = t.token;
          expiresAt = now() + Math.max(0, t.expiresInS - REFRESH_MARGIN_S) * 1000;
          pending = undefined;
          return t.token;
        },
        (err: unknown) => {
          pending = undefined;
          throw err;
        },
      );
      return pending;
    },
    reset() {
      token = undefined;
      expiresAt = 0;
    },
  };
}

/** A token given in configuration (tests, or a token minted by an external agent). */
export function staticBearer(token: string): BearerSource {
  return { get: () => Promise.resolve(token), reset: () => undefined };
}
