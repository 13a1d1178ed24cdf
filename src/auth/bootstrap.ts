import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import type { TenantId } from '../kernel/index.js';
import type { Db } from '../store/index.js';
import { createClientRegistry } from './clients.js';
import type { ClientRegistry } from './clients.js';

/**
 * First-start administrator: a Backend Services client whose private key is
 * written only to a 0600 file in the data directory, so the operator can mint
 * a token (`haven token`) without any secret ever passing through logs or env.
 */
export const BOOTSTRAP_CLIENT_ID = 'haven-admin';
export const BOOTSTRAP_SCOPES = ['system/*.*', 'system/*.cruds'];
export const TOKEN_URL_PLACEHOLDER = 'https://<haven-host>/auth/token';

export interface BootstrapOptions {
  db: Db;
  tenant: TenantId;
  /** Data directory; the file goes to `<dir>/bootstrap/admin-client.json`. */
  dir: string;
  /** Written into the file when known; a placeholder otherwise. */
  tokenUrl?: string;
  clients?: ClientRegistry;
}

export interface BootstrapFile {
  clientId: string;
  tenant: string;
  tokenUrl: string;
  scope: string;
  privateJwk: JWK;
  createdAt: string;
}

export interface BootstrapResult {
  clientId: string;
  file: string;
  /** 'unchanged' on a normal restart; 'created' the first time; 'rotated' when the file was missing or stale. */
  action: 'created' | 'rotated' | 'unchanged';
}

async function readBootstrapFile(file: string): Promise<BootstrapFile | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BootstrapFile;
  } catch {
    return undefined;
  }
}

async function newKeyPair(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const pub = await exportJWK(publicKey);
  const meta = { kid: await calculateJwkThumbprint(pub), alg: 'ES384', use: 'sig' };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...pub, ...meta } };
}

/** Write to a 0600 temp file then rename, so a crash never leaves a half-written key file. */
async function writePrivateFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(tmp, 0o600); // the open() mode is filtered by umask and ignored for an existing file
  await rename(tmp, file);
}

export async function ensureBootstrapClient(options: BootstrapOptions): Promise<BootstrapResult> {
  const { db, tenant } = options;
  const clients = options.clients ?? createClientRegistry({ db });
  const bootstrapDir = join(options.dir, 'bootstrap');
  const file = join(bootstrapDir, 'admin-client.json');
  await mkdir(bootstrapDir, { recursive: true, mode: 0o700 });
  await chmod(bootstrapDir, 0o700);

  const existing = await clients.get(tenant, BOOTSTRAP_CLIENT_ID);
  const saved = await readBootstrapFile(file);
  const registeredKids = new Set(existing?.jwks.keys.map((k) => k.kid));
  if (existing && saved?.privateJwk.kid && registeredKids.has(saved.privateJwk.kid)) {
    return { clientId: BOOTSTRAP_CLIENT_ID, file, action: 'unchanged' };
  }

  // The file is missing or holds a key the database no longer knows: issue a new key, retiring the old one.
  const { privateJwk, publicJwk } = await newKeyPair();
  const content: BootstrapFile = {
    clientId: BOOTSTRAP_CLIENT_ID,
    tenant,
    tokenUrl: options.tokenUrl ?? TOKEN_URL_PLACEHOLDER,
    scope: BOOTSTRAP_SCOPES.join(' '),
    privateJwk,
    createdAt: new Date().toISOString(),
  };
  await writePrivateFile(file, `${JSON.stringify(content, null, 2)}\n`);
  const jwks = { keys: [publicJwk] };
  if (existing) await clients.replaceJwks(tenant, BOOTSTRAP_CLIENT_ID, jwks);
  else {
    await clients.register(tenant, {
      clientId: BOOTSTRAP_CLIENT_ID,
      name: 'Haven bootstrap administrator',
      jwks,
      scopes: BOOTSTRAP_SCOPES,
      isAdmin: true,
    });
  }
  return { clientId: BOOTSTRAP_CLIENT_ID, file, action: existing ? 'rotated' : 'created' };
}
