import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import type { ServiceAccountKey } from '../../../src/crypto/oauth-token.js';
import { open, seal } from './gcm.js';
import { reply, startFakeHttp, type FakeHttp, type FakeReply, type FakeRequest } from './fake-http.js';

/**
 * A local fake of Google Cloud KMS REST v1 (test code only): cryptoKeys.get,
 * :encrypt (on a CryptoKey = its primary version, or on a CryptoKeyVersion),
 * :decrypt (on the CryptoKey; the version comes from the ciphertext),
 * cryptoKeyVersions.create/get and :updatePrimaryVersion, errors as
 * {"error": {code, message, status}}. OAuth2 tokens come from its token_uri
 * by the JWT bearer grant (RS256 assertion signed with the service-account key).
 * additionalAuthenticatedData is the AES-256-GCM AAD, as Cloud KMS documents.
 */
export interface GcpKmsFake extends FakeHttp {
  keyName: string;
  serviceAccount: ServiceAccountKey;
  /** A valid bearer token (as if minted elsewhere), for the static-token mode. */
  issueToken(): string;
}

const gerr = (code: number, status: string, message: string): FakeReply => reply(code, { error: { code, message, status } });

export async function startGcpKmsFake(): Promise<GcpKmsFake> {
  const keyName = 'projects/haven-test/locations/europe-west1/keyRings/haven/cryptoKeys/kek';
  const versions: { material: Buffer; state: string }[] = [{ material: randomBytes(32), state: 'ENABLED' }];
  let primary = 1;
  const tokens = new Set<string>();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = 'haven@haven-test.iam.gserviceaccount.com';
  const versionJson = (n: number) => ({ name: `${keyName}/cryptoKeyVersions/${n}`, state: versions[n - 1]!.state, algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION', protectionLevel: 'SOFTWARE' });
  const keyJson = () => ({ name: keyName, purpose: 'ENCRYPT_DECRYPT', primary: versionJson(primary), versionTemplate: { algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' } });
  const issueToken = () => {
    const t = `ya29.${randomBytes(24).toString('base64url')}`;
    tokens.add(t);
    return t;
  };

  async function token(req: FakeRequest): Promise<FakeReply> {
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return reply(400, { error: 'unsupported_grant_type' });
    try {
      const { payload } = await jwtVerify(form.get('assertion') ?? '', publicKey, { issuer: email, audience: `${fake.url}/token`, algorithms: ['RS256'] });
      if (!String(payload.scope).split(' ').includes('https://www.googleapis.com/auth/cloudkms')) return reply(400, { error: 'invalid_scope' });
    } catch {
      return reply(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    return reply(200, { access_token: issueToken(), expires_in: 3599, token_type: 'Bearer' });
  }

  function encrypt(n: number, body: Record<string, unknown>): FakeReply {
    const v = versions[n - 1];
    if (!v || v.state !== 'ENABLED') return gerr(400, 'FAILED_PRECONDITION', `${keyName}/cryptoKeyVersions/${n} is not enabled`);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(n);
    const aad = Buffer.from(String(body.additionalAuthenticatedData ?? ''), 'base64');
    const ciphertext = Buffer.concat([head, seal(v.material, Buffer.from(String(body.plaintext ?? ''), 'base64'), Buffer.concat([head, aad]))]);
    return reply(200, { name: `${keyName}/cryptoKeyVersions/${n}`, ciphertext: ciphertext.toString('base64'), verifiedPlaintextCrc32c: false, protectionLevel: 'SOFTWARE' });
  }

  function decrypt(body: Record<string, unknown>): FakeReply {
    const ct = Buffer.from(String(body.ciphertext ?? ''), 'base64');
    const n = ct.length > 4 ? ct.readUInt32BE(0) : 0;
    const v = versions[n - 1];
    const plain = v && open(v.material, ct.subarray(4), Buffer.concat([ct.subarray(0, 4), Buffer.from(String(body.additionalAuthenticatedData ?? ''), 'base64')]));
    if (!plain) return gerr(400, 'INVALID_ARGUMENT', 'Decryption failed: the ciphertext is invalid.');
    if (v.state !== 'ENABLED') return gerr(400, 'FAILED_PRECONDITION', `${keyName}/cryptoKeyVersions/${n} is not enabled`);
    return reply(200, { plaintext: plain.toString('base64'), usedPrimary: n === primary, protectionLevel: 'SOFTWARE' });
  }

  function api(req: FakeRequest): FakeReply {
    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!auth || !tokens.has(auth)) return gerr(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    const path = decodeURIComponent(req.path.slice('/v1/'.length));
    const version = /^(.+)\/cryptoKeyVersions\/(\d+)(:encrypt)?$/.exec(path);
    if (req.method === 'GET' && path === keyName) return reply(200, keyJson());
    if (version && version[1] === keyName) {
      const n = Number(version[2]);
      if (!versions[n - 1]) return gerr(404, 'NOT_FOUND', `${path} not found.`);
      if (req.method === 'GET') {
        // New versions are generated asynchronously: the first look says PENDING_GENERATION.
        const json = versionJson(n);
        if (versions[n - 1]!.state === 'PENDING_GENERATION') versions[n - 1]!.state = 'ENABLED';
        return reply(200, json);
      }
      if (version[3]) return encrypt(n, req.json());
    }
    if (req.method !== 'POST') return gerr(404, 'NOT_FOUND', `${path} not found.`);
    if (path === `${keyName}:encrypt`) return encrypt(primary, req.json());
    if (path === `${keyName}:decrypt`) return decrypt(req.json());
    if (path === `${keyName}/cryptoKeyVersions`) {
      versions.push({ material: randomBytes(32), state: 'PENDING_GENERATION' });
      return reply(200, versionJson(versions.length));
    }
    if (path === `${keyName}:updatePrimaryVersion`) {
      const n = Number(req.json().cryptoKeyVersionId);
      if (versions[n - 1]?.state !== 'ENABLED') return gerr(400, 'FAILED_PRECONDITION', 'The new primary version must be ENABLED');
      primary = n;
      return reply(200, keyJson());
    }
    return gerr(404, 'NOT_FOUND', `${path} not found.`);
  }

  const fake = Object.assign(
    await startFakeHttp((req) => (req.path === '/token' && req.method === 'POST' ? token(req) : req.path.startsWith('/v1/') ? api(req) : gerr(404, 'NOT_FOUND', 'no such path'))),
    { keyName, issueToken, serviceAccount: undefined as unknown as ServiceAccountKey },
  );
  fake.serviceAccount = {
    client_email: email,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    private_key_id: randomBytes(20).toString('hex'),
    token_uri: `${fake.url}/token`,
  };
  return fake;
}
