import { signAccessToken } from '../../src/auth/access-token.js';
import { createSigningKeyStore } from '../../src/auth/index.js';
import { DEFAULT_TENANT, systemClock } from '../../src/kernel/index.js';
import type { TestServer } from '../support/server.js';

/**
 * Helpers for the access-policy, break-glass/JIT and authorization-matrix tests.
 * User tokens are signed with the server's own access-token key (the same code
 * the authorization-code flow uses) and verified by the server's real verifier;
 * the browser sign-in itself is covered by smart-launch.test.ts.
 */
export interface Answer {
  status: number;
  body: any;
}

export async function call(s: TestServer, method: string, path: string, token: string | null, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json';
  const res = await fetch(`${s.baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

let n = 0;
/** Creates a workforce user through the admin API and returns its id. */
export async function createUser(s: TestServer, roles: string[]): Promise<string> {
  n += 1;
  const res = await call(s, 'POST', '/auth/admin/users', await s.token(), { username: `user-${process.pid}-${n}`, password: 'correct horse battery', roles });
  if (res.status !== 201) throw new Error(`user creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.userId as string;
}

export async function userToken(s: TestServer, userId: string, scopes = ['user/*.cruds'], patient?: string): Promise<string> {
  const keys = createSigningKeyStore({ db: s.testDb.db, clock: systemClock });
  return signAccessToken(keys, {
    tenant: DEFAULT_TENANT, clientId: 'test-app', scopes, isAdmin: false, issuer: s.baseUrl, audience: s.fhirUrl,
    now: new Date(), ttlSeconds: 300, userId, ...(patient ? { patient } : {}),
  });
}

export async function putRole(s: TestServer, name: string, definition: unknown): Promise<Answer> {
  return call(s, 'PUT', `/auth/admin/roles/${name}`, await s.token(), definition);
}

export const ids = (bundle: any): string[] => (bundle.entry ?? []).filter((e: any) => e.search?.mode !== 'include').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
export const included = (bundle: any): string[] => (bundle.entry ?? []).filter((e: any) => e.search?.mode === 'include').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();

/** Two organisations, a patient in each (with telecom and address), a lab and a vital-signs Observation of p1, a lab one of p2. */
export async function seed(s: TestServer): Promise<void> {
  const put = async (r: { resourceType: string; id: string }) => {
    const res = await s.fhir(`/${r.resourceType}/${r.id}`, { method: 'PUT', json: r });
    if (res.status >= 300) throw new Error(`seed ${r.resourceType}/${r.id}: ${res.status}`);
  };
  await put({ resourceType: 'Organization', id: 'org1', name: 'One' } as never);
  await put({ resourceType: 'Organization', id: 'org2', name: 'Two' } as never);
  for (const [id, org] of [['p1', 'org1'], ['p2', 'org2']] as const) {
    await put({
      resourceType: 'Patient', id, managingOrganization: { reference: `Organization/${org}` },
      name: [{ family: `Fam${id}` }], telecom: [{ system: 'phone', value: '555-0100' }], address: [{ city: 'Springfield' }],
    } as never);
  }
  const obs = (id: string, patient: string, category: string) => ({
    resourceType: 'Observation', id, status: 'final', subject: { reference: `Patient/${patient}` },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
    code: { text: 'x' },
  });
  await put(obs('o1', 'p1', 'laboratory') as never);
  await put(obs('o2', 'p1', 'vital-signs') as never);
  await put(obs('o3', 'p2', 'laboratory') as never);
}
