import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for an S3-compatible service with Object Lock, written from
 * the S3 API reference (PutObject, GetObject, DeleteObject, ListObjectVersions,
 * "Using S3 Object Lock", "Authenticating Requests (AWS Signature Version 4)").
 * Its SigV4 check is written here from the spec, independently of Haven's
 * signer. Buckets are versioned (Object Lock requires it): a PUT over a key
 * adds a version, a DELETE without versionId adds a delete marker, and a
 * locked version can be neither deleted nor have its retention shortened (403
 * AccessDenied) until its retain-until date.
 */
export interface S3Version {
  versionId: string;
  body: Buffer | undefined; // undefined: delete marker
  lockMode?: string;
  retainUntil?: Date;
}

export interface S3Fake {
  url: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** Versions per key, oldest first. */
  objects: Map<string, S3Version[]>;
  /** Requests seen (method, path+query, status). */
  log: { method: string; target: string; status: number }[];
  /** The next `n` requests fail with this status and S3 code. */
  failNext(n: number, status: number, code: string): void;
  /** Page size of ListObjectVersions (S3: up to 1000). */
  maxKeys: number;
  close(): Promise<void>;
}

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d, 'utf8').digest();
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function errorXml(res: ServerResponse, status: number, code: string, message: string): number {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  return status;
}

/** SigV4 per the spec: canonical request from the request as received. Returns an error code or undefined. */
function checkSignature(req: IncomingMessage, body: Buffer, f: Pick<S3Fake, 'accessKeyId' | 'secretAccessKey' | 'region'>): string | undefined {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? '');
  if (!auth) return 'AccessDenied';
  const [, keyId, day, region, signedHeaders, sig] = auth;
  if (keyId !== f.accessKeyId) return 'InvalidAccessKeyId';
  if (region !== f.region) return 'AuthorizationHeaderMalformed';
  const date = String(req.headers['x-amz-date'] ?? '');
  const when = Date.parse(date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (!date.startsWith(day!) || !Number.isFinite(when) || Math.abs(Date.now() - when) > 15 * 60_000) return 'RequestTimeTooSkewed';
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  if (payloadHash !== hex(body)) return 'XAmzContentSHA256Mismatch';
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') || !names.includes('x-amz-content-sha256')) return 'AccessDenied';
  const url = new URL(req.url ?? '/', 'http://fake');
  const query = [...url.searchParams.entries()].map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).sort().join('&');
  const headerText = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, url.pathname, query, headerText, signedHeaders, payloadHash].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', date, `${day}/${region}/s3/aws4_request`, hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${f.secretAccessKey}`, day!), region!), 's3'), 'aws4_request');
  const expected = hmac(key, toSign);
  return timingSafeEqual(expected, Buffer.from(sig!, 'hex')) ? undefined : 'SignatureDoesNotMatch';
}

function put(f: S3Fake, key: string, req: IncomingMessage, body: Buffer, res: ServerResponse): number {
  const mode = req.headers['x-amz-object-lock-mode'] as string | undefined;
  const until = req.headers['x-amz-object-lock-retain-until-date'] as string | undefined;
  if ((mode === undefined) !== (until === undefined)) return errorXml(res, 400, 'InvalidArgument', 'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied');
  if (mode !== undefined && mode !== 'COMPLIANCE' && mode !== 'GOVERNANCE') return errorXml(res, 400, 'InvalidArgument', 'Unknown wormMode directive');
  const retainUntil = until === undefined ? undefined : new Date(until);
  if (retainUntil && !(retainUntil.getTime() > Date.now())) return errorXml(res, 400, 'InvalidArgument', 'The retain until date must be in the future');
  const md5 = req.headers['content-md5'];
  if (mode !== undefined && md5 === undefined) return errorXml(res, 400, 'InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
  if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64')) return errorXml(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received');
  const versions = f.objects.get(key) ?? [];
  const current = versions[versions.length - 1];
  if (req.headers['if-none-match'] === '*' && current?.body !== undefined) return errorXml(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  const v: S3Version = { versionId: randomBytes(12).toString('hex'), body, ...(mode ? { lockMode: mode } : {}), ...(retainUntil ? { retainUntil } : {}) };
  f.objects.set(key, [...versions, v]);
  res.writeHead(200, { 'x-amz-version-id': v.versionId, etag: `"${createHash('md5').update(body).digest('hex')}"` });
  res.end();
  return 200;
}

const locked = (v: S3Version) => v.retainUntil !== undefined && v.retainUntil.getTime() > Date.now();

function del(f: S3Fake, key: string, versionId: string | null, res: ServerResponse): number {
  const versions = f.objects.get(key) ?? [];
  if (versionId === null) {
    f.objects.set(key, [...versions, { versionId: randomBytes(12).toString('hex'), body: undefined }]);
    res.writeHead(204, { 'x-amz-delete-marker': 'true' });
    res.end();
    return 204;
  }
  const v = versions.find((x) => x.versionId === versionId);
  if (v && locked(v)) return errorXml(res, 403, 'AccessDenied', 'Access Denied because object protected by object lock.');
  f.objects.set(key, versions.filter((x) => x !== v));
  res.writeHead(204);
  res.end();
  return 204;
}

function get(f: S3Fake, key: string, versionId: string | null, res: ServerResponse): number {
  const versions = f.objects.get(key) ?? [];
  const v = versionId === null ? versions[versions.length - 1] : versions.find((x) => x.versionId === versionId);
  if (!v?.body) return errorXml(res, 404, versionId === null ? 'NoSuchKey' : 'NoSuchVersion', 'The specified key does not exist.');
  res.writeHead(200, { 'x-amz-version-id': v.versionId, 'content-type': 'application/x-ndjson' });
  res.end(v.body);
  return 200;
}

function listVersions(f: S3Fake, q: URLSearchParams, res: ServerResponse): number {
  const prefix = q.get('prefix') ?? '';
  // Keys ascending, each key's versions newest first (as S3 lists them).
  const all = [...f.objects.keys()].filter((k) => k.startsWith(prefix)).sort().flatMap((k) => [...f.objects.get(k)!].reverse().map((v, i) => ({ k, v, latest: i === 0 })));
  const km = q.get('key-marker');
  const vm = q.get('version-id-marker');
  const start = km === null ? 0 : all.findIndex((e) => e.k === km && e.v.versionId === vm) + 1;
  const page = all.slice(start, start + f.maxKeys);
  const truncated = start + f.maxKeys < all.length;
  const items = page.map(({ k, v, latest }) => v.body === undefined
    ? `<DeleteMarker><Key>${k}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${latest}</IsLatest></DeleteMarker>`
    : `<Version><Key>${k}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${latest}</IsLatest><Size>${v.body.length}</Size></Version>`).join('');
  const last = page[page.length - 1];
  const next = truncated && last ? `<NextKeyMarker>${last.k}</NextKeyMarker><NextVersionIdMarker>${last.v.versionId}</NextVersionIdMarker>` : '';
  res.writeHead(200, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult><Name>${f.bucket}</Name><Prefix>${prefix}</Prefix><IsTruncated>${truncated}</IsTruncated>${next}${items}</ListVersionsResult>`);
  return 200;
}

function route(f: S3Fake, req: IncomingMessage, body: Buffer, res: ServerResponse): number {
  const denied = checkSignature(req, body, f);
  if (denied) return errorXml(res, 403, denied, 'The request signature we calculated does not match the signature you provided.');
  const url = new URL(req.url ?? '/', 'http://fake');
  const [, bucket, ...rest] = url.pathname.split('/');
  if (bucket !== f.bucket) return errorXml(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
  const key = rest.map(decodeURIComponent).join('/');
  if (key === '' && req.method === 'GET' && url.searchParams.has('versions')) return listVersions(f, url.searchParams, res);
  if (key === '') return errorXml(res, 501, 'NotImplemented', 'Not implemented by the fake');
  if (req.method === 'PUT' && url.searchParams.has('retention')) return errorXml(res, 403, 'AccessDenied', 'Access Denied because object protected by object lock.');
  if (req.method === 'PUT') return put(f, key, req, body, res);
  if (req.method === 'GET') return get(f, key, url.searchParams.get('versionId'), res);
  if (req.method === 'DELETE') return del(f, key, url.searchParams.get('versionId'), res);
  return errorXml(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
}

export async function startS3Fake(): Promise<S3Fake> {
  let failures: { n: number; status: number; code: string } = { n: 0, status: 500, code: 'InternalError' };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let status: number;
      if (failures.n > 0) {
        failures.n--;
        status = errorXml(res, failures.status, failures.code, 'injected');
      } else status = route(fake, req, Buffer.concat(chunks), res);
      fake.log.push({ method: req.method ?? '', target: req.url ?? '', status });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fake: S3Fake = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'eu-central-1',
    accessKeyId: 'AKIAHAVENWITNESS',
    secretAccessKey: randomBytes(20).toString('base64'),
    bucket: 'haven-witness',
    objects: new Map(),
    log: [],
    maxKeys: 1000,
    failNext(n, status, code) {
      failures = { n, status, code };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  return fake;
}
