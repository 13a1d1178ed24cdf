import { HavenError, type Logger } from '../kernel/index.js';
import { signV4, type AwsCredentials } from './aws-sigv4.js';
import { packWrapped, unpackWrapped } from './cloud-wrapped.js';
import { callKms, field, kmsHttpError, type KmsHttpSettings, type KmsResponse } from './kms-http.js';
import type { KekRotation, Kms } from './kms.js';

/**
 * AWS KMS over its JSON API (TrentService Encrypt/Decrypt/DescribeKey, SigV4).
 * The KEK is a symmetric KMS key that never leaves AWS. The Haven DEK context
 * goes into the EncryptionContext, which AWS binds to the ciphertext as
 * additional authenticated data: Decrypt with another context fails.
 *
 * Wrapped DEK: see cloud-wrapped.ts; the key reference is the key ARN, which
 * Decrypt receives as KeyId (AWS then refuses a ciphertext of any other key).
 *
 * Rotation has two forms. With `nextKeyId` (HAVEN_KMS_AWS_KEY_ID_NEXT) the
 * DEKs are re-wrapped under that other KMS key. Without it they are re-wrapped
 * under the same key: useful after AWS rotated the key's material (automatic
 * or on-demand rotation keeps the key id; Decrypt still finds old material).
 */
const WRAP_FORMAT = 0x41; // 'A'
const PROVIDER = 'AWS KMS';
const CONTEXT_KEY = 'haven:dek-context';

export interface AwsKmsOptions {
  /** Key id, key ARN, alias name (alias/…) or alias ARN. */
  keyId: string;
  nextKeyId?: string;
  region: string;
  /** Default https://kms.<region>.amazonaws.com (override for FIPS/VPC endpoints and tests). */
  endpoint?: string;
  credentials: AwsCredentials;
  logger: Logger;
  http?: KmsHttpSettings;
}

const awsType = (res: KmsResponse) => String(res.json.__type ?? '').split('#').pop() ?? '';

function mapAwsError(what: string) {
  return (res: KmsResponse): HavenError | 'retry' | undefined => {
    const type = awsType(res);
    const reason = `${type}: ${String(res.json.message ?? res.json.Message ?? '')}`.slice(0, 300);
    if (type === 'ThrottlingException' || type === 'KMSInternalException' || type === 'DependencyTimeoutException') return 'retry';
    if (['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignature', 'ExpiredTokenException', 'InvalidClientTokenId'].includes(type)) {
      return new HavenError('unavailable', 'KMS_ACCESS_DENIED', `${PROVIDER} refused ${what}: ${reason} (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the key policy)`);
    }
    if (type === 'InvalidCiphertextException' || type === 'IncorrectKeyException') {
      return new HavenError('fault', 'KMS_UNWRAP_FAILED', `A wrapped data key failed authentication under the AWS KMS key (damaged, altered or bound to another tenant/purpose): ${type}`);
    }
    if (type === 'NotFoundException') return new HavenError('fault', 'KMS_KEK_NOT_FOUND', `${PROVIDER}: the key for ${what} was not found: ${reason}`);
    if (type === 'DisabledException' || type === 'KMSInvalidStateException' || type === 'KeyUnavailableException') {
      return new HavenError('unavailable', 'KMS_UNAVAILABLE', `${PROVIDER} ${what} failed: the key is not usable now (${reason})`);
    }
    return res.status === 429 || res.status >= 500 ? undefined : kmsHttpError(PROVIDER, what, res);
  };
}

function client(o: AwsKmsOptions) {
  const endpoint = (o.endpoint ?? `https://kms.${o.region}.amazonaws.com`).replace(/\/+$/, '');
  return async (action: 'Encrypt' | 'Decrypt' | 'DescribeKey', body: Record<string, unknown>, what: string) =>
    callKms(
      PROVIDER,
      what,
      o.http ?? {},
      async () => {
        const req = { method: 'POST', url: `${endpoint}/`, body: JSON.stringify(body), headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `TrentService.${action}` } };
        return { method: 'POST' as const, url: req.url, body: req.body, headers: signV4(req, o.credentials, o.region, 'kms') };
      },
      mapAwsError(what),
    );
}

async function describeKey(call: ReturnType<typeof client>, keyId: string): Promise<string> {
  const res = await call('DescribeKey', { KeyId: keyId }, `DescribeKey for ${keyId}`);
  const meta = (res.KeyMetadata ?? {}) as Record<string, unknown>;
  const arn = field(PROVIDER, meta, 'Arn');
  if (meta.KeyUsage !== 'ENCRYPT_DECRYPT' || (meta.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT') {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${PROVIDER} key ${arn} must be a symmetric ENCRYPT_DECRYPT key (SYMMETRIC_DEFAULT)`);
  }
  if (meta.Enabled !== true) throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${PROVIDER} key ${arn} is not enabled (state ${String(meta.KeyState)})`);
  return arn;
}

/** Resolves the configured key (a bad id or credentials fail the start) and returns the adapter. */
export async function createAwsKms(o: AwsKmsOptions): Promise<Kms> {
  const call = client(o);
  let arn = await describeKey(call, o.keyId);
  const ctx = (context: Buffer) => ({ [CONTEXT_KEY]: context.toString('base64') });

  async function encrypt(keyArn: string, dek: Buffer, context: Buffer): Promise<Buffer> {
    const res = await call('Encrypt', { KeyId: keyArn, Plaintext: dek.toString('base64'), EncryptionContext: ctx(context) }, 'Encrypt');
    // The answer names the key ARN actually used; store that, not the alias.
    return packWrapped(WRAP_FORMAT, field(PROVIDER, res, 'KeyId'), Buffer.from(field(PROVIDER, res, 'CiphertextBlob'), 'base64'));
  }

  return {
    wrap: (dek, context) => encrypt(arn, dek, context),
    async unwrap(wrapped, context) {
      const { keyRef, blob } = unpackWrapped(PROVIDER, WRAP_FORMAT, wrapped);
      const res = await call('Decrypt', { KeyId: keyRef, CiphertextBlob: blob.toString('base64'), EncryptionContext: ctx(context) }, 'Decrypt');
      return Buffer.from(field(PROVIDER, res, 'Plaintext'), 'base64');
    },
    describe: () => ({ provider: 'aws-kms', kekId: `aws-kms:${arn}`, detail: `AWS KMS key ${arn} (${o.region})` }),
    async beginRotation(): Promise<KekRotation> {
      const nextArn = o.nextKeyId ? await describeKey(call, o.nextKeyId) : arn;
      return {
        kekId: `aws-kms:${nextArn}`,
        wrap: (dek, context) => encrypt(nextArn, dek, context),
        async commit() {
          if (nextArn === arn) {
            o.logger.info({ kekId: `aws-kms:${arn}` }, 'AWS KMS: data keys re-wrapped under the current material of the same KMS key');
            return;
          }
          o.logger.warn({ from: `aws-kms:${arn}`, to: `aws-kms:${nextArn}` }, 'AWS KMS KEK rotated: set HAVEN_KMS_AWS_KEY_ID to the new key and unset HAVEN_KMS_AWS_KEY_ID_NEXT; keep the old key enabled for old backups');
          arn = nextArn;
        },
        async abort() {
          o.logger.warn({ kekId: `aws-kms:${nextArn}` }, 'AWS KMS KEK rotation failed; the current key stays in use');
        },
      };
    },
    async close() {
      /* stateless HTTP: nothing to release */
    },
  };
}
