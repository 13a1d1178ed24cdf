import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { download, kickoff, waitForManifest } from '../bulk/support.js';

/**
 * $import pulling NDJSON from another HTTP server ("ping and pull"): only
 * allow-listed origins, streamed with a size limit, per-line errors in the
 * error file, transient failures retried, every write audited.
 */
let s: TestServer;
let token: string;
let source: Server;
let other: Server;
let origin: string;
let flakyHits = 0;

const patient = (id: string) => JSON.stringify({ resourceType: 'Patient', id, name: [{ family: `Pulled-${id}` }] });
const MAX_BYTES = 4096;

function serve(handler: (path: string) => { status: number; body?: string; headers?: Record<string, string> }): Promise<Server> {
  const srv = createServer((req, res) => {
    const r = handler(req.url ?? '/');
    res.writeHead(r.status, { 'content-type': 'application/fhir+ndjson', ...r.headers });
    // Bodies go out in 500-byte chunks without Content-Length: the limit must hold while streaming.
    const body = r.body ?? '';
    for (let i = 0; i < body.length; i += 500) res.write(body.slice(i, i + 500));
    res.end();
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

const routes: Record<string, () => { status: number; body?: string; headers?: Record<string, string> }> = {
  '/patients.ndjson': () => ({ status: 200, body: ['url-1', 'url-2', 'url-3'].map(patient).join('\n') + '\n{not json\n\n' + JSON.stringify({ resourceType: 'Patient' }) + '\n' + JSON.stringify({ resourceType: 'Observation', id: 'x' }) + '\n' + patient('url-4') }),
  // 60 lines of ~60 bytes: past MAX_BYTES part way through.
  '/big.ndjson': () => ({ status: 200, body: Array.from({ length: 60 }, (_, i) => patient(`big-${String(i).padStart(3, '0')}`)).join('\n') }),
  '/flaky.ndjson': () => (++flakyHits === 1 ? { status: 503 } : { status: 200, body: patient('flaky-1') }),
  '/moved.ndjson': () => ({ status: 302, headers: { location: '/patients.ndjson' } }),
  '/missing.ndjson': () => ({ status: 404 }),
  '/manifest.json': () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ transactionTime: '2026-01-01T00:00:00Z', output: [{ type: 'Patient', url: 'manifest-patients.ndjson' }], error: [] }) }),
  '/manifest-patients.ndjson': () => ({ status: 200, body: patient('man-1') + '\n' + patient('man-2') + '\n' }),
};

before(async () => {
  source = await serve((path) => (routes[path] ?? (() => ({ status: 404 })))());
  other = await serve(() => ({ status: 200, body: patient('never') }));
  origin = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
  s = await startTestServer({ HAVEN_IMPORT_ALLOWED_ORIGINS: `${origin}/`, HAVEN_IMPORT_MAX_BYTES: String(MAX_BYTES) });
  token = await s.token('system/*.cruds');
});
after(async () => {
  await s.close();
  source.close();
  other.close();
});

const inputs = (...list: [string, string][]) => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'inputFormat', valueCode: 'application/fhir+ndjson' }, ...list.map(([type, url]) => ({ name: 'input', part: [{ name: 'type', valueCode: type }, { name: 'url', valueUrl: url }] }))],
});

async function runImport(body: unknown) {
  const k = await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body });
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const statusUrl = k.headers.get('content-location')!;
  const m = (await waitForManifest(statusUrl, token, 40_000)) as unknown as { output: { type: string; inputUrl: string; count: number }[]; error: { url: string }[] };
  const errors = (await Promise.all(m.error.map((e) => download(e.url, token)))).flat().map((o) => o.issue[0].diagnostics as string);
  return { output: m.output, errors, jobId: statusUrl.split('/').pop()! };
}

test('inputs on an allowed origin are pulled and written by id; bad lines go to the error file; audited', async () => {
  const r = await runImport(inputs(['Patient', `${origin}/patients.ndjson`]));
  assert.deepEqual(r.output, [{ type: 'Patient', inputUrl: `${origin}/patients.ndjson`, count: 4 }]);
  assert.deepEqual(r.errors.sort(), ['line 4: not JSON', 'line 6: an imported resource needs an id', 'line 7: resourceType is not Patient'].sort());
  for (const id of ['url-1', 'url-2', 'url-3', 'url-4']) assert.equal((await s.fhir(`/Patient/${id}`)).body.name[0].family, `Pulled-${id}`);
  const audit = await s.testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_entry WHERE request_id LIKE $1 AND action = 'update'`, [`bulk/${r.jobId}/%`]);
  assert.equal(audit.rows[0]!.n, 4);
  // Imported again (a retry does the same): the same four resources, not duplicates.
  await runImport(inputs(['Patient', `${origin}/patients.ndjson`]));
  assert.equal((await s.fhir('/Patient?_id=url-1,url-2,url-3,url-4&_summary=count')).body.total, 4);
});

test('a manifest (by URL or as the body) lists the inputs; relative file URLs resolve against it', async () => {
  const byUrl = await runImport({ resourceType: 'Parameters', parameter: [{ name: 'manifestUrl', valueUrl: `${origin}/manifest.json` }] });
  assert.deepEqual(byUrl.output, [{ type: 'Patient', inputUrl: `${origin}/manifest-patients.ndjson`, count: 2 }]);
  const asBody = await runImport({ transactionTime: '2026-01-01T00:00:00Z', output: [{ type: 'Patient', url: `${origin}/manifest-patients.ndjson` }] });
  assert.equal(asBody.output[0]!.count, 2);
  assert.equal((await s.fhir('/Patient/man-2')).status, 200);
});

test('a larger input stops at HAVEN_IMPORT_MAX_BYTES; 404 and redirects are refused; 503 is retried', async () => {
  const r = await runImport(inputs(['Patient', `${origin}/big.ndjson`], ['Patient', `${origin}/missing.ndjson`], ['Patient', `${origin}/moved.ndjson`], ['Patient', `${origin}/flaky.ndjson`]));
  const big = r.output.find((o) => o.inputUrl.endsWith('/big.ndjson'))!;
  assert.ok(big.count > 0 && big.count < 60, `big: ${big.count} ${r.errors.join("; ")}`);
  assert.ok(r.errors.some((e) => e.includes('BULK_IMPORT_INPUT_REFUSED') && e.includes(`larger than ${MAX_BYTES}`)), r.errors.join('; '));
  assert.ok(r.errors.some((e) => e.includes('HTTP 404')));
  assert.ok(r.errors.some((e) => e.includes('redirect')));
  assert.equal(r.output.find((o) => o.inputUrl.endsWith('/flaky.ndjson'))!.count, 1);
  assert.ok(flakyHits >= 2);
  assert.equal((await s.fhir('/Patient/flaky-1')).status, 200);
  assert.equal((await s.fhir(`/Patient/big-${String(big.count - 1).padStart(3, '0')}`)).status, 200);
  assert.equal((await s.fhir(`/Patient/big-${String(big.count).padStart(3, '0')}`)).status, 404);
});

test('origins not on the allow-list are refused at kick-off, and nothing is fetched', async () => {
  const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/x.ndjson`;
  const k = await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body: inputs(['Patient', otherUrl]) });
  assert.equal(k.status, 400);
  assert.match(JSON.stringify(k.body), /HAVEN_IMPORT_ALLOWED_ORIGINS/);
  const viaManifest = await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body: { resourceType: 'Parameters', parameter: [{ name: 'manifestUrl', valueUrl: otherUrl }] } });
  assert.equal(viaManifest.status, 400);
  assert.match(JSON.stringify(viaManifest.body), /BULK_IMPORT_INPUT_REFUSED/);
  assert.equal((await s.fhir('/Patient/never')).status, 404);
});
