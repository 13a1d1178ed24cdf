import { constants, generateKeyPair, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { reply, startFakeHttp, type FakeHttp, type FakeReply, type FakeRequest } from './fake-http.js';

/**
 * A local fake of Azure Key Vault keys (api-version 7.4) and of the Microsoft
 * identity platform token endpoint (test code only). Vault: GET keys/{name},
 * POST keys/{name}/create, POST keys/{name}/{version}/wrapkey|unwrapkey with
 * RSA-OAEP-256 done by real RSA keys; errors as {"error": {code, message}}.
 * Token: POST {tenant}/oauth2/v2.0/token, client-credentials grant with the
 * https://vault.azure.net/.default scope.
 */
export interface AzureKeyVaultFake extends FakeHttp {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  keyName: string;
  issueToken(): string;
}

const kverr = (status: number, code: string, message: string, headers?: Record<string, string>): FakeReply => reply(status, { error: { code, message } }, headers);

export async function startAzureKeyVaultFake(): Promise<AzureKeyVaultFake> {
  const tenantId = 'contoso-tenant';
  const clientId = randomBytes(8).toString('hex');
  const clientSecret = randomBytes(24).toString('base64url');
  const keyName = 'haven-kek';
  const versions = new Map<string, { priv: KeyObject; pub: KeyObject; n: string }>();
  const order: string[] = [];
  const tokens = new Set<string>();
  const issueToken = () => {
    const t = randomBytes(24).toString('base64url');
    tokens.add(t);
    return t;
  };
  // RSA key generation is slow on a busy machine: keep one 2048-bit pair ready so a `create`
  // answers within the client's timeout, as the real service does.
  let spare: Promise<{ privateKey: KeyObject; publicKey: KeyObject }> | undefined;
  const refill = (): void => {
    spare = new Promise((res, rej) => generateKeyPair('rsa', { modulusLength: 2048 }, (e, publicKey, privateKey) => (e ? rej(e) : res({ publicKey, privateKey }))));
  };
  const newVersion = async (bits: number) => {
    const ready = bits === 2048 && spare ? await spare : undefined;
    if (ready) refill();
    const { privateKey, publicKey } = ready ?? generateKeyPairSync('rsa', { modulusLength: bits });
    const version = randomBytes(16).toString('hex');
    versions.set(version, { priv: privateKey, pub: publicKey, n: String(publicKey.export({ format: 'jwk' }).n) });
    order.push(version);
    return version;
  };
  await newVersion(2048);
  refill();
  await spare;
  const bundle = (base: string, version: string) => ({
    key: { kid: `${base}/keys/${keyName}/${version}`, kty: 'RSA', key_ops: ['wrapKey', 'unwrapKey'], n: versions.get(version)!.n, e: 'AQAB' },
    attributes: { enabled: true, recoveryLevel: 'Recoverable+Purgeable' },
  });

  function token(req: FakeRequest): FakeReply {
    const f = new URLSearchParams(req.body);
    if (f.get('grant_type') !== 'client_credentials') return reply(400, { error: 'unsupported_grant_type' });
    if (f.get('client_id') !== clientId || f.get('client_secret') !== clientSecret) {
      return reply(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
    }
    if (f.get('scope') !== 'https://vault.azure.net/.default') return reply(400, { error: 'invalid_scope' });
    return reply(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: issueToken() });
  }

  async function vault(req: FakeRequest, base: string): Promise<FakeReply> {
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!bearer || !tokens.has(bearer)) return kverr(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', { 'WWW-Authenticate': `Bearer authorization="${base}/${tenantId}", resource="https://vault.azure.net"` });
    if (req.query.get('api-version') !== '7.4') return kverr(400, 'BadParameter', 'The specified version is not supported');
    const m = /^\/keys\/([^/]+)(?:\/([^/]+))?(?:\/(wrapkey|unwrapkey))?$/.exec(req.path);
    if (!m || m[1] !== keyName) return kverr(404, 'KeyNotFound', `A key with (name/id) ${req.path} was not found in this key vault.`);
    if (req.method === 'GET' && !m[2]) return reply(200, bundle(base, order[order.length - 1]!));
    if (req.method === 'POST' && m[2] === 'create' && !m[3]) {
      const body = req.json();
      if (body.kty !== 'RSA' && body.kty !== 'RSA-HSM') return kverr(400, 'BadParameter', 'kty');
      return reply(200, bundle(base, await newVersion(Number(body.key_size ?? 2048))));
    }
    const v = m[2] ? versions.get(m[2]) : undefined;
    if (req.method !== 'POST' || !v || !m[3]) return kverr(404, 'KeyNotFound', `A key with (name/id) ${req.path} was not found in this key vault.`);
    const body = req.json();
    if (body.alg !== 'RSA-OAEP-256') return kverr(400, 'BadParameter', 'Unsupported algorithm');
    const value = Buffer.from(String(body.value ?? ''), 'base64url');
    const kid = `${base}/keys/${keyName}/${m[2]}`;
    if (m[3] === 'wrapkey') return reply(200, { kid, value: publicEncrypt({ key: v.pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, value).toString('base64url') });
    try {
      return reply(200, { kid, value: privateDecrypt({ key: v.priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, value).toString('base64url') });
    } catch {
      return kverr(400, 'BadParameter', 'Unable to decrypt the specified value.');
    }
  }

  const fake = await startFakeHttp((req) => (req.path === `/${tenantId}/oauth2/v2.0/token` && req.method === 'POST' ? token(req) : vault(req, fake.url)));
  return Object.assign(fake, { tenantId, clientId, clientSecret, keyName, issueToken });
}
