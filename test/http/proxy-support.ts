import { request as httpRequest, createServer, type Server } from 'node:http';
import { freePort } from '../support/server.js';

/**
 * A reverse proxy that serves Haven under /haven and strips the prefix before
 * passing a request on. `target` is read per request, so the proxy can listen
 * (and its origin be Haven's public base URL) before Haven's own port is known.
 */
export async function strippingProxy(target: () => string, port?: number): Promise<{ server: Server; origin: string }> {
  const listenPort = port ?? (await freePort());
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith('/haven/') && url !== '/haven') {
      res.writeHead(404).end('not behind /haven');
      return;
    }
    const upstream = httpRequest(`${target()}${url.slice('/haven'.length) || '/'}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${listenPort}` };
}
