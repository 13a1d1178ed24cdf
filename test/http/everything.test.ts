import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';

/** Patient/ID/$everything: the compartment, paged with next links, _type and _since, audited. */
let s: TestServer;
let patient: string;
const mine: string[] = [];

async function create(resource: Record<string, unknown>): Promise<string> {
  const res = await s.fhir(`/${String(resource.resourceType)}`, { method: 'POST', json: resource });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return `${String(resource.resourceType)}/${res.body.id as string}`;
}

before(async () => {
  s = await startTestServer();
  patient = (await create({ resourceType: 'Patient', name: [{ family: 'Everything' }] })).split('/')[1]!;
  const other = (await create({ resourceType: 'Patient', name: [{ family: 'Other' }] })).split('/')[1]!;
  mine.push(`Patient/${patient}`);
  for (let i = 0; i < 5; i++) mine.push(await create({ resourceType: 'Observation', status: 'final', code: { text: `o${i}` }, subject: { reference: `Patient/${patient}` } }));
  mine.push(await create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${patient}` } }));
  await create({ resourceType: 'Observation', status: 'final', code: { text: 'theirs' }, subject: { reference: `Patient/${other}` } });
});
after(async () => s.close());

async function pages(path: string): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let n = 0;
  let next: string | undefined = path;
  while (next) {
    const res = await s.fhir(next);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.type, 'searchset');
    keys.push(...(res.body.entry ?? []).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`));
    n++;
    next = res.body.link.find((l: any) => l.relation === 'next')?.url.slice(s.fhirUrl.length);
  }
  return { keys, pages: n };
}

test('$everything returns the whole compartment, paged by _count with next links', async () => {
  const all = await pages(`/Patient/${patient}/$everything?_count=3`);
  assert.deepEqual([...all.keys].sort(), [...mine].sort());
  assert.equal(all.pages, 3);
  assert.equal(new Set(all.keys).size, all.keys.length);
});

test('$everything honours _type and _since', async () => {
  const obs = await pages(`/Patient/${patient}/$everything?_type=Observation`);
  assert.deepEqual(obs.keys.sort(), mine.filter((k) => k.startsWith('Observation/')).sort());
  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  const changed = await create({ resourceType: 'Condition', code: { text: 'new' }, subject: { reference: `Patient/${patient}` } });
  const recent = await pages(`/Patient/${patient}/$everything?_since=${encodeURIComponent(since)}`);
  assert.deepEqual(recent.keys, [changed]);
  assert.equal((await s.fhir(`/Patient/${patient}/$everything?_since=yesterday`)).status, 400);
});

test('$everything of an unknown patient is 404; it is audited with the patient', async () => {
  assert.equal((await s.fhir('/Patient/unknown/$everything')).status, 404);
  await s.fhir(`/Patient/${patient}/$everything`);
  // Searched as auditors do: v2 entries hold the patient's blind tag, found through the audit API.
  const rows = await s.fhir(`/AuditEvent?patient=Patient/${patient}&_count=1&_total=accurate`);
  assert.equal(rows.status, 200);
  assert.ok((rows.body.total as number) > 0);
});
