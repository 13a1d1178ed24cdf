import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * A SMART app as a browser sees it: two static pages and the fhirclient
 * browser bundle, served from its own origin (http://localhost:<port>, another
 * site than Haven's http://127.0.0.1:<port>). launch.html starts the standalone
 * launch; index.html is the redirect_uri, finishes it and reads the Patient.
 */
export interface SmartApp {
  origin: string;
  redirectUri: string;
  close(): Promise<void>;
}

// dist/test/auth/ → repository root.
const BUNDLE = fileURLToPath(new URL('../../../node_modules/fhirclient/build/fhir-client.js', import.meta.url));

const page = (script: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pulse</title><script src="fhir-client.js"></script></head>
<body><p id="status">working</p><p id="name"></p><p id="patient"></p><pre id="error"></pre>
<script>
const show = (id, text) => { document.getElementById(id).textContent = text; };
${script}
</script></body></html>`;

function launchPage(iss: string, clientId: string, scope: string): string {
  return page(`FHIR.oauth2.authorize(${JSON.stringify({ iss, clientId, scope, redirectUri: 'index.html', pkceMode: 'required' })})
  .catch((e) => { show('status', 'failed'); show('error', String(e && e.message || e)); });`);
}

const INDEX = page(`FHIR.oauth2.ready()
  .then(async (client) => {
    const p = await client.patient.read();
    const n = (p.name || [])[0] || {};
    show('name', [...(n.given || []), n.family].join(' '));
    show('patient', client.patient.id + ' ' + client.getState('tokenResponse.patient'));
    show('status', 'done');
  })
  .catch((e) => { show('status', 'failed'); show('error', String(e && e.message || e)); });`);

export function bundleAvailable(): boolean {
  return existsSync(BUNDLE);
}

export async function startSmartApp(options: { iss: string; clientId: string; scope: string }): Promise<SmartApp> {
  const files = new Map<string, { type: string; body: string | Buffer }>([
    ['/launch.html', { type: 'text/html; charset=utf-8', body: launchPage(options.iss, options.clientId, options.scope) }],
    ['/index.html', { type: 'text/html; charset=utf-8', body: INDEX }],
    ['/fhir-client.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(BUNDLE) }],
  ]);
  const server: Server = createServer((req, res) => {
    const file = files.get((req.url ?? '/').split('?')[0]!);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const origin = `http://localhost:${port}`;
  return {
    origin,
    redirectUri: `${origin}/index.html`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
