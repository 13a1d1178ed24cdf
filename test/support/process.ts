import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClientAssertion } from '../../src/auth/index.js';

/** Haven as a real child process (`node bin/haven.js serve`), as an operator runs it. */
export interface HavenProcess {
  proc: ChildProcess;
  baseUrl: string;
  output: () => string;
  exited: Promise<number | null>;
}

export async function spawnHaven(env: Record<string, string>, timeoutMs = 30_000): Promise<HavenProcess> {
  const proc = spawn(process.execPath, ['bin/haven.js', 'serve'], {
    env: { ...process.env, HAVEN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${env.HAVEN_PORT}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haven exited early: ${out}`);
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`haven did not become healthy: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, baseUrl, output: () => out, exited };
}

export async function adminToken(dataDir: string, baseUrl: string, scope = 'system/*.cruds'): Promise<string> {
  const creds = JSON.parse(await readFile(join(dataDir, 'bootstrap', 'admin-client.json'), 'utf8'));
  const tokenUrl = `${baseUrl}/auth/token`;
  const assertion = await createClientAssertion({ clientId: creds.clientId, privateJwk: creds.privateJwk, tokenUrl });
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
  });
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}
