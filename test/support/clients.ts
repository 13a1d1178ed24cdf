import { createClientRegistry } from '../../src/auth/index.js';
import { fetchToken } from '../../src/cli/client.js';
import { DEFAULT_TENANT } from '../../src/kernel/index.js';
import { clientKeys } from '../auth/harness.js';
import type { TestServer } from './server.js';

/** Registers a non-admin backend-services client with `scopes` and returns a token for all of them. */
export async function limitedClientToken(s: TestServer, clientId: string, scopes: string): Promise<string> {
  const keys = await clientKeys('ES384');
  await createClientRegistry({ db: s.testDb.db }).register(DEFAULT_TENANT, { clientId, name: clientId, jwks: { keys: [keys.publicJwk] }, scopes });
  const creds = { clientId, tokenUrl: `${s.baseUrl}/auth/token`, privateJwk: keys.privateJwk as Record<string, unknown> };
  return (await fetchToken(s.baseUrl, creds, scopes)).token;
}
