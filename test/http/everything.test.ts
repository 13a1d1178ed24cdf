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

test('$everything start/end keep what was cared for in the range (care dates, at their precision), the undated and the dateless types', async () => {
  const id = (await create({ resourceType: 'Patient', name: [{ family: 'Dated' }] })).split('/')[1]!;
  const subject = { reference: `Patient/${id}` };
  const r = {
    patient: `Patient/${id}`,
    enc2019: await create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject, period: { start: '2019-03-01T10:00:00Z', end: '2019-03-01T11:00:00Z' } }),
    enc2021: await create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject, period: { start: '2021-06-01T10:00:00Z', end: '2021-06-01T11:00:00Z' } }),
    // A period straddling New Year 2020 overlaps both years.
    straddling: await create({ resourceType: 'Observation', status: 'final', code: { text: 'holter' }, subject, effectivePeriod: { start: '2019-12-31T20:00:00Z', end: '2020-01-01T08:00:00Z' } }),
    undated: await create({ resourceType: 'Observation', status: 'final', code: { text: 'undated' }, subject }),
    onset2021: await create({ resourceType: 'Condition', code: { text: 'c' }, subject, onsetDateTime: '2021-05' }),
    coverage: await create({ resourceType: 'Coverage', status: 'active', beneficiary: subject, payor: [{ display: 'Payer' }] }),
  };
  const always = [r.patient, r.undated, r.coverage];
  const keys = async (q: string) => (await pages(`/Patient/${id}/$everything?${q}`)).keys.sort();
  assert.deepEqual(await keys('start=2020&end=2020'), [...always, r.straddling].sort());
  assert.deepEqual(await keys('start=2021-01-01'), [...always, r.enc2021, r.onset2021].sort());
  assert.deepEqual(await keys('end=2019-06'), [...always, r.enc2019].sort());
  assert.deepEqual(await keys('end=2019'), [...always, r.enc2019, r.straddling].sort());
  // The range holds across pages (the next links carry it).
  assert.deepEqual(await keys('start=2021-01-01&_count=1'), [...always, r.enc2021, r.onset2021].sort());
  assert.equal((await keys('')).length, 7);
  for (const [q, code] of [['start=2022&end=2021', 'EVERYTHING_BAD_PARAMETER'], ['start=soon', 'EVERYTHING_BAD_PARAMETER'], ['patient=x', 'EVERYTHING_BAD_PARAMETER']] as const) {
    const res = await s.fhir(`/Patient/${id}/$everything?${q}`);
    assert.equal(res.status, 400, q);
    assert.equal(res.body.issue[0].details.coding[0].code, code, q);
  }
});
