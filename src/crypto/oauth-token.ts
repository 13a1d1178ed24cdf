import { importPKCS8, SignJWT } from 'jose';
import { HavenError } from '../kernel/index.js';
import { callKms, type KmsHttpSettings, type KmsResponse } from './kms-http.js';

/**
 * OAuth 2.0 access tokens for the cloud KMS adapters: the JWT bearer grant
 * (RFC 7523) for Google service accounts and the client-credentials grant
 * for Microsoft Entra ID. Secrets and tokens never appear in errors or logs.
 */
export interface IssuedToken {
  token: string;
  expiresInS: number;
}

function tokenError(provider: string) {
  return (res: KmsResponse): HavenError | undefined => {
    if (res.status === 429 || res.status >= 500) return undefined;
    const code = typeof res.json.error === 'string' ? res.json.error : `HTTP ${res.status}`;
    return new HavenError('unavailable', 'KMS_ACCESS_DENIED', `${provider}: the token endpoint refused Haven's credentials (${code})`);
  };
}

async function postForm(provider: string, url: string, form: Record<string, string>, http: KmsHttpSettings): Promise<IssuedToken> {
  const json = await callKms(
    provider,
    'token request',
    http,
    async () => ({ method: 'POST', url, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() }),
    tokenError(provider),
  );
  if (typeof json.access_token !== 'string' || json.access_token === '') {
    throw new HavenError('unavailable', 'KMS_ACCESS_DENIED', `${provider}: the token endpoint answered without an access_token`);
  }
  return { token: json.access_token, expiresInS: Number(json.expires_in ?? 300) || 300 };
}

/** The fields of a Google service-account key file Haven uses. */
export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
}

export function parseServiceAccount(text: string, source: string): ServiceAccountKey {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${source} is not a JSON service-account key`);
  }
  for (const f of ['client_email', 'private_key', 'token_uri']) {
    if (typeof j[f] !== 'string') throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `${source} has no '${f}' (is it a service-account key?)`);
  }
  return j as unknown as ServiceAccountKey;
}

export async function googleServiceAccountToken(sa: ServiceAccountKey, scope: string, http: KmsHttpSettings): Promise<IssuedToken> {
  let key: Awaited<ReturnType<typeof importPKCS8>>;
  try {
    key = await importPKCS8(sa.private_key, 'RS256');
  } catch {
    throw new HavenError('incorrect', 'KMS_CONFIG_INVALID', `The service-account key of ${sa.client_email} holds no usable RSA private key`);
  }
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ scope })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(sa.private_key_id ? { kid: sa.private_key_id } : {}) })
    .setIssuer(sa.client_email)
    .setAudience(sa.token_uri)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key);
  return postForm('GCP KMS', sa.token_uri, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }, http);
}

export interface ClientCredentials {
  /** e.g. https://login.microsoftonline.com */
  authority: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export async function entraClientCredentialsToken(c: ClientCredentials, scope: string, http: KmsHttpSettings): Promise<IssuedToken> {
  const url = `${c.authority.replace(/\/+$/, '')}/${encodeURIComponent(c.tenantId)}/oauth2/v2.0/token`;
  return postForm('Azure Key Vault', url, { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope }, http);
}
