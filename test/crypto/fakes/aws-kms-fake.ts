import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { signature } from '../../../src/crypto/aws-sigv4.js';
import { open, seal } from './gcm.js';
import { reply, startFakeHttp, type FakeHttp, type FakeReply, type FakeRequest } from './fake-http.js';

/**
 * A local fake of the AWS KMS JSON API (test code only): POST / with
 * X-Amz-Target TrentService.Encrypt / Decrypt / DescribeKey and
 * application/x-amz-json-1.1, SigV4 verified with the caller's secret, errors
 * as {"__type", "message"} with the documented HTTP statuses.
 * Symmetric keys are AES-256-GCM; the EncryptionContext is the AAD (as in
 * AWS, decrypting with a different context fails). A key can hold several
 * generations of material, as after AWS automatic key rotation.
 */
interface FakeKey {
  id: string;
  arn: string;
  material: Buffer[];
  enabled: boolean;
}

export interface AwsKmsFake extends FakeHttp {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  createKey(alias?: string): string;
  /** Adds new backing material to a key (AWS automatic rotation): same id, new material. */
  rotateMaterial(arn: string): void;
}

const ACCOUNT = '111122223333';
const err = (status: number, type: string, message: string): FakeReply => reply(status, { __type: type, message });

function contextAad(ctx: unknown): Buffer {
  const entries = Object.entries((ctx ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

export async function startAwsKmsFake(): Promise<AwsKmsFake> {
  const region = 'eu-west-1';
  const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  const keys = new Map<string, FakeKey>(); // id → key
  const aliases = new Map<string, string>(); // alias/name → id

  function resolve(keyId: unknown): FakeKey | undefined {
    const s = String(keyId ?? '');
    const alias = /^(?:arn:aws:kms:[^:]+:\d+:)?(alias\/.+)$/.exec(s)?.[1];
    const id = alias ? aliases.get(alias) : /([0-9a-f-]{36})$/.exec(s)?.[1];
    return id ? keys.get(id) : undefined;
  }

  function authenticate(req: FakeRequest): FakeReply | undefined {
    const auth = String(req.headers.authorization ?? '');
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/kms\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return err(400, 'IncompleteSignatureException', 'Authorization header requires a valid SigV4 signature');
    if (m[1] !== accessKeyId) return err(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    const date = String(req.headers['x-amz-date'] ?? '');
    const headers: Record<string, string> = {};
    for (const h of m[4]!.split(';')) headers[h] = String(req.headers[h] ?? '');
    const expected = signature({ method: req.method, url: `http://${String(req.headers.host)}${req.path}`, headers, body: req.body }, secretAccessKey, date, m[3]!, 'kms');
    if (m[3] !== region || !timingSafeEqual(Buffer.from(expected.signature), Buffer.from(m[5]!))) {
      return err(400, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
    }
    return undefined;
  }

  const actions: Record<string, (body: Record<string, unknown>) => FakeReply> = {
    DescribeKey(body) {
      const key = resolve(body.KeyId);
      if (!key) return err(400, 'NotFoundException', `Key '${String(body.KeyId)}' does not exist`);
      return reply(200, { KeyMetadata: { AWSAccountId: ACCOUNT, KeyId: key.id, Arn: key.arn, Enabled: key.enabled, KeyState: key.enabled ? 'Enabled' : 'Disabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', KeyManager: 'CUSTOMER', Origin: 'AWS_KMS' } });
    },
    Encrypt(body) {
      const key = resolve(body.KeyId);
      if (!key) return err(400, 'NotFoundException', `Key '${String(body.KeyId)}' does not exist`);
      const plaintext = Buffer.from(String(body.Plaintext ?? ''), 'base64');
      if (plaintext.length < 1 || plaintext.length > 4096) return err(400, 'ValidationException', 'Plaintext must be 1 to 4096 bytes');
      const gen = key.material.length - 1;
      const head = Buffer.concat([Buffer.from(key.id, 'ascii'), Buffer.of(gen)]);
      const blob = Buffer.concat([head, seal(key.material[gen]!, plaintext, Buffer.concat([head, contextAad(body.EncryptionContext)]))]);
      return reply(200, { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    },
    Decrypt(body) {
      const blob = Buffer.from(String(body.CiphertextBlob ?? ''), 'base64');
      const key = keys.get(blob.subarray(0, 36).toString('ascii'));
      if (!key) return err(400, 'InvalidCiphertextException', '');
      if (body.KeyId !== undefined && resolve(body.KeyId)?.id !== key.id) return err(400, 'IncorrectKeyException', 'The key ID in the request does not identify the KMS key that encrypted the ciphertext');
      const material = key.material[blob[36] ?? 255];
      const plain = material && open(material, blob.subarray(37), Buffer.concat([blob.subarray(0, 37), contextAad(body.EncryptionContext)]));
      if (!plain) return err(400, 'InvalidCiphertextException', '');
      if (!key.enabled) return err(400, 'DisabledException', `${key.arn} is disabled.`);
      return reply(200, { KeyId: key.arn, Plaintext: plain.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    },
  };

  const http = await startFakeHttp((req) => {
    if (req.method !== 'POST' || req.path !== '/') return err(404, 'UnknownOperationException', '');
    const denied = authenticate(req);
    if (denied) return denied;
    const target = String(req.headers['x-amz-target'] ?? '');
    const action = actions[target.replace(/^TrentService\./, '')];
    if (!target.startsWith('TrentService.') || !action) return err(400, 'UnknownOperationException', '');
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return err(400, 'SerializationException', 'bad content type');
    return action(req.json());
  });
  return Object.assign(http, {
    region,
    accessKeyId,
    secretAccessKey,
    createKey(alias?: string) {
      const id = randomUUID();
      const arn = `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;
      keys.set(id, { id, arn, material: [randomBytes(32)], enabled: true });
      if (alias) aliases.set(alias, id);
      return arn;
    },
    rotateMaterial(arn: string) {
      resolve(arn)!.material.push(randomBytes(32));
    },
  });
}
