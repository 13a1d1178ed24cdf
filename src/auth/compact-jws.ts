import { verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/**
 * Parsing and signature check of Haven's own compact-JWS access tokens, done
 * synchronously with node:crypto. jose's jwtVerify verifies through WebCrypto,
 * which Node runs asynchronously on the libuv thread pool: one ES256 check cost
 * ~307 µs CPU that way against ~94 µs here, and every first request with a new
 * token pays it (issue 5: ≤ 0.2 ms per request). Signing and every other JOSE
 * use stay with jose.
 */
export interface CompactJws {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** The ASCII `header.payload` the signature covers. */
  readonly signingInput: string;
  /** Still base64url-encoded. */
  readonly signature: string;
}

const base64urlChars = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict unpadded base64url: Buffer's own decoder silently skips characters outside the alphabet. */
function decodeBase64url(segment: string): Buffer | undefined {
  if (!base64urlChars.test(segment) || segment.length % 4 === 1) return undefined;
  return Buffer.from(segment, 'base64url');
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Undefined unless the token has exactly three segments and its header and payload are JSON objects. */
export function parseCompactJws(token: string): CompactJws | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [encodedHeader, encodedPayload, signature] = parts as [string, string, string];
  const header = decodeJsonObject(encodedHeader);
  const payload = decodeJsonObject(encodedPayload);
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: `${encodedHeader}.${encodedPayload}`, signature };
}

interface AlgCheck {
  digest: string | null;
  keyType: string;
  curve?: string;
  signatureBytes: number;
}

/** The algs an access-token key can have; any other alg (none, HS256, …) never verifies. */
const algChecks = new Map<string, AlgCheck>([
  // RFC 7518 §3.4: the signature is R || S, 32 bytes each (IEEE P1363), not DER.
  ['ES256', { digest: 'sha256', keyType: 'ec', curve: 'prime256v1', signatureBytes: 64 }],
  ['EdDSA', { digest: null, keyType: 'ed25519', signatureBytes: 64 }],
]);

/**
 * True only when the header's alg is the key's own alg (no alg confusion), the
 * header lists no critical extensions (we implement none, RFC 7515 §4.1.11),
 * and the signature over `header.payload` verifies with the key.
 */
export function signatureValid(jws: CompactJws, key: { alg: string; key: KeyObject }): boolean {
  const check = algChecks.get(key.alg);
  const signature = decodeBase64url(jws.signature);
  if (!check || jws.header.alg !== key.alg || jws.header.crit !== undefined) return false;
  if (signature?.length !== check.signatureBytes || key.key.type !== 'public' || key.key.asymmetricKeyType !== check.keyType) return false;
  if (check.curve !== undefined && key.key.asymmetricKeyDetails?.namedCurve !== check.curve) return false;
  try {
    const data = Buffer.from(jws.signingInput, 'ascii');
    return verify(check.digest, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
