import { hkdfSync, randomBytes } from 'node:crypto';
import { open, seal } from './gcm.js';
import { reply, startFakeHttp, type FakeHttp, type FakeReply, type FakeRequest } from './fake-http.js';

/**
 * A local fake of the HashiCorp Vault Transit secrets engine (test code only):
 * GET /v1/transit/keys/:name, POST /v1/transit/encrypt/:name and
 * /decrypt/:name (aes256-gcm96 with `associated_data`; `context` for derived
 * keys), POST /v1/transit/keys/:name/rotate, ciphertext `vault:vN:<base64>`,
 * min_decryption_version, X-Vault-Token checked, errors as {"errors": [...]}.
 */
interface TransitKey {
  versions: Buffer[];
  minDecryption: number;
  derived: boolean;
}

export interface VaultTransitFake extends FakeHttp {
  token: string;
  createKey(name: string, options?: { derived?: boolean; type?: string }): void;
  setMinDecryptionVersion(name: string, v: number): void;
}

const verr = (status: number, ...errors: string[]): FakeReply => reply(status, { errors });

export async function startVaultTransitFake(): Promise<VaultTransitFake> {
  const token = `hvs.${randomBytes(18).toString('base64url')}`;
  const keys = new Map<string, TransitKey & { type: string }>();

  function keyFor(k: TransitKey, version: number, body: Record<string, unknown>): Buffer | string {
    const master = k.versions[version - 1]!;
    if (!k.derived) return master;
    if (typeof body.context !== 'string' || body.context === '') return 'missing \'context\' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key';
    return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), Buffer.from(body.context, 'base64'), 32));
  }

  function encrypt(k: TransitKey, body: Record<string, unknown>): FakeReply {
    const v = body.key_version === undefined ? k.versions.length : Number(body.key_version);
    if (!Number.isInteger(v) || v < 1 || v > k.versions.length) return verr(400, 'invalid key version');
    const key = keyFor(k, v, body);
    if (typeof key === 'string') return verr(400, key);
    const sealed = seal(key, Buffer.from(String(body.plaintext ?? ''), 'base64'), Buffer.from(String(body.associated_data ?? ''), 'base64'));
    return reply(200, { data: { ciphertext: `vault:v${v}:${sealed.toString('base64')}`, key_version: v } });
  }

  function decrypt(k: TransitKey, body: Record<string, unknown>): FakeReply {
    const m = /^vault:v(\d+):([A-Za-z0-9+/]+=*)$/.exec(String(body.ciphertext ?? ''));
    if (!m) return verr(400, 'invalid ciphertext: no prefix');
    const v = Number(m[1]);
    if (v < k.minDecryption) return verr(400, 'ciphertext or signature version is disallowed by policy (too old)');
    if (v > k.versions.length) return verr(400, 'invalid ciphertext: invalid key version');
    const key = keyFor(k, v, body);
    if (typeof key === 'string') return verr(400, key);
    const plain = open(key, Buffer.from(m[2]!, 'base64'), Buffer.from(String(body.associated_data ?? ''), 'base64'));
    return plain ? reply(200, { data: { plaintext: plain.toString('base64') } }) : verr(400, 'cipher: message authentication failed');
  }

  function handle(req: FakeRequest): FakeReply {
    if (req.headers['x-vault-token'] !== token) return verr(403, 'permission denied');
    const m = /^\/v1\/transit\/(keys|encrypt|decrypt)\/([^/]+)(\/rotate)?$/.exec(req.path);
    const k = m ? keys.get(decodeURIComponent(m[2]!)) : undefined;
    if (!m || !k) return verr(404);
    if (m[1] === 'keys' && req.method === 'GET' && !m[3]) {
      const versions = Object.fromEntries(k.versions.map((_, i) => [String(i + 1), 1700000000 + i]));
      return reply(200, { data: { name: m[2], type: k.type, derived: k.derived, latest_version: k.versions.length, min_decryption_version: k.minDecryption, min_encryption_version: 0, keys: versions, supports_encryption: true, supports_decryption: true } });
    }
    if (req.method !== 'POST') return verr(405, 'unsupported operation');
    if (m[1] === 'keys' && m[3]) {
      k.versions.push(randomBytes(32));
      return reply(204);
    }
    if (m[1] === 'encrypt') return encrypt(k, req.json());
    if (m[1] === 'decrypt') return decrypt(k, req.json());
    return verr(405, 'unsupported operation');
  }

  const fake = await startFakeHttp(handle);
  return Object.assign(fake, {
    token,
    createKey(name: string, options: { derived?: boolean; type?: string } = {}) {
      keys.set(name, { versions: [randomBytes(32)], minDecryption: 1, derived: options.derived ?? false, type: options.type ?? 'aes256-gcm96' });
    },
    setMinDecryptionVersion(name: string, v: number) {
      keys.get(name)!.minDecryption = v;
    },
  });
}
