import { spawn, type ChildProcess } from 'node:child_process';
import { fetchToken, readBootstrap } from '../../src/cli/client.js';

/** Haven as a real child process (`node bin/haven.js serve`), as an operator runs it. */
export interface HavenProcess {
  proc: ChildProcess;
  baseUrl: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** `args`: the script and arguments to run instead of `bin/haven.js serve` (a test's own server entry). */
export async function spawnHaven(env: Record<string, string>, timeoutMs = 30_000, args: string[] = ['bin/haven.js', 'serve']): Promise<HavenProcess> {
  const proc = spawn(process.execPath, args, {
    // MLLP on a free port unless the test names one: parallel test servers must not race for 2575.
    env: { ...process.env, HAVEN_LOG_LEVEL: 'info', HAVEN_MLLP_PORT: '0', ...env },
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
  return (await fetchToken(baseUrl, await readBootstrap(dataDir), scope)).token;
}
