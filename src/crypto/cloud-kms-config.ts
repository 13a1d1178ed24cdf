import { readFileSync } from 'node:fs';
import type { HavenConfig } from '../config/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import { createAwsKms } from './aws-kms.js';
import { createAzureKeyVaultKms } from './azure-keyvault.js';
import { createGcpKms } from './gcp-kms.js';
import type { Kms } from './kms.js';
import { parseServiceAccount } from './oauth-token.js';
import { createVaultTransitKms } from './vault-transit.js';

/**
 * The four cloud KMS adapters built from configuration. Which key to use comes
 * from HAVEN_KMS_* (src/config/schema.ts); credentials come from each vendor's
 * standard variables (AWS_ACCESS_KEY_ID…, GOOGLE_APPLICATION_CREDENTIALS,
 * AZURE_CLIENT_ID…, VAULT_TOKEN…) so the usual secret injectors work unchanged
 * and no secret is copied into Haven's own configuration object.
 */
export type CloudProvider = 'aws-kms' | 'gcp-kms' | 'azure-keyvault' | 'vault-transit';
type Env = NodeJS.ProcessEnv;

function need(env: Env, names: string[], provider: string): string[] {
  const missing = names.filter((n) => !env[n]);
  if (missing.length > 0) throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `HAVEN_KMS=${provider} needs ${missing.join(', ')} in the environment`);
  return names.map((n) => env[n]!);
}

function required(value: string | undefined, name: string, provider: string): string {
  if (!value) throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `HAVEN_KMS=${provider} needs ${name}`);
  return value;
}

function aws(config: HavenConfig, env: Env, logger: Logger, http: { timeoutMs: number; retries: number }): Promise<Kms> {
  const a = config.kms.aws;
  const [accessKeyId, secretAccessKey] = need(env, ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], 'aws-kms');
  const region = required(a.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION, 'HAVEN_KMS_AWS_REGION (or AWS_REGION)', 'aws-kms');
  return createAwsKms({
    keyId: required(a.keyId, 'HAVEN_KMS_AWS_KEY_ID', 'aws-kms'),
    region,
    credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey!, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) },
    logger,
    http,
    ...(a.keyIdNext ? { nextKeyId: a.keyIdNext } : {}),
    ...(a.endpoint ? { endpoint: a.endpoint } : {}),
  });
}

function gcp(config: HavenConfig, env: Env, logger: Logger, http: { timeoutMs: number; retries: number }): Promise<Kms> {
  const g = config.kms.gcp;
  const file = required(g.credentials ?? env.GOOGLE_APPLICATION_CREDENTIALS, 'HAVEN_KMS_GCP_CREDENTIALS (or GOOGLE_APPLICATION_CREDENTIALS): a service-account key file', 'gcp-kms');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `The GCP service-account key file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return createGcpKms({
    keyName: required(g.key, 'HAVEN_KMS_GCP_KEY', 'gcp-kms'),
    credentials: { serviceAccount: parseServiceAccount(text, file) },
    logger,
    http,
    ...(g.endpoint ? { endpoint: g.endpoint } : {}),
  });
}

function azure(config: HavenConfig, env: Env, logger: Logger, http: { timeoutMs: number; retries: number }): Promise<Kms> {
  const z = config.kms.azure;
  const [tenantId, clientId, clientSecret] = need(env, ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'], 'azure-keyvault');
  return createAzureKeyVaultKms({
    vaultUrl: required(z.vaultUrl, 'HAVEN_KMS_AZURE_VAULT_URL', 'azure-keyvault'),
    keyName: required(z.keyName, 'HAVEN_KMS_AZURE_KEY_NAME', 'azure-keyvault'),
    credentials: { authority: z.authority, tenantId: tenantId!, clientId: clientId!, clientSecret: clientSecret! },
    logger,
    http,
  });
}

function vault(config: HavenConfig, env: Env, logger: Logger, http: { timeoutMs: number; retries: number }): Promise<Kms> {
  const [address, token] = need(env, ['VAULT_ADDR', 'VAULT_TOKEN'], 'vault-transit');
  return createVaultTransitKms({
    address: address!,
    token: token!,
    mount: config.kms.vault.mount,
    keyName: required(config.kms.vault.key, 'HAVEN_KMS_VAULT_KEY', 'vault-transit'),
    logger,
    http,
    ...(env.VAULT_NAMESPACE ? { namespace: env.VAULT_NAMESPACE } : {}),
  });
}

const builders = { 'aws-kms': aws, 'gcp-kms': gcp, 'azure-keyvault': azure, 'vault-transit': vault } as const;

export function createCloudKms(provider: CloudProvider, config: HavenConfig, logger: Logger, env: Env = process.env): Promise<Kms> {
  const http = { timeoutMs: config.kms.timeoutMs, retries: config.kms.retries };
  return builders[provider](config, env, logger, http);
}
