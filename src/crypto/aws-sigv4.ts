import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 (header form), as documented in the AWS General
 * Reference "Signature Version 4 signing process". Small on purpose: Haven
 * signs only JSON POSTs to KMS, and this avoids the multi-megabyte SDK.
 * Tested against the AWS documented example (test/crypto/aws-sigv4.test.ts).
 */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignableRequest {
  method: string;
  url: string;
  /** Header names in any case; Host is taken from the URL when absent. */
  headers: Record<string, string>;
  /** Binary bodies (S3 objects) are hashed as they are. */
  body: string | Buffer;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** `20150830T123600Z` */
export const amzDate = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

export function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
}

function canonicalHeaders(req: SignableRequest): { text: string; signed: string } {
  const entries = new Map<string, string>();
  for (const [k, v] of Object.entries(req.headers)) entries.set(k.toLowerCase(), v.trim().replace(/\s+/g, ' '));
  if (!entries.has('host')) entries.set('host', new URL(req.url).host);
  const names = [...entries.keys()].sort();
  return { text: names.map((n) => `${n}:${entries.get(n)}\n`).join(''), signed: names.join(';') };
}

export function canonicalRequest(req: SignableRequest): { text: string; signedHeaders: string } {
  const url = new URL(req.url);
  const path = url.pathname.split('/').map((seg) => rfc3986(decodeURIComponent(seg))).join('/') || '/';
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const h = canonicalHeaders(req);
  return { text: [req.method.toUpperCase(), path, query, h.text, h.signed, sha256(req.body)].join('\n'), signedHeaders: h.signed };
}

/** The signature of a request whose headers already include x-amz-date (and any token). */
export function signature(req: SignableRequest, secret: string, date: string, region: string, service: string): { signature: string; signedHeaders: string; scope: string } {
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const canonical = canonicalRequest(req);
  const toSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonical.text)].join('\n');
  return { signature: hmac(signingKey(secret, day, region, service), toSign).toString('hex'), signedHeaders: canonical.signedHeaders, scope };
}

/** Returns the request headers plus X-Amz-Date, X-Amz-Security-Token (if any) and Authorization. */
export function signV4(req: SignableRequest, creds: AwsCredentials, region: string, service: string, now: Date = new Date()): Record<string, string> {
  const date = amzDate(now);
  const headers: Record<string, string> = { ...req.headers, 'X-Amz-Date': date };
  if (creds.sessionToken) headers['X-Amz-Security-Token'] = creds.sessionToken;
  const s = signature({ ...req, headers }, creds.secretAccessKey, date, region, service);
  headers.Authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${s.scope}, SignedHeaders=${s.signedHeaders}, Signature=${s.signature}`;
  return headers;
}
