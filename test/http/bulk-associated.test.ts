import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, patientsOf } from '../support/audit-keys.js';
import { download, exportAll, key, kickoff } from '../bulk/support.js';

/**
 * includeAssociatedData: LatestProvenanceResources and RelevantProvenanceResources
 * add the Provenance whose target is an exported resource, in files of their own,
 * under the same filters, compartments and scopes as the export.
 */
let s: TestServer;
let token: string;
const pat: string[] = [];
const obs: string[] = []; // obs[i] belongs to pat[i]
let cond: string; // pat[0]'s Condition
const prov: Record<string, string> = {};

async function create(resource: Record<string, unknown>): Promise<string> {
  const res = await s.fhir(`/${String(resource.resourceType)}`, { method: 'POST', json: resource });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id as string;
}

const provenance = (targets: string[], recorded: string) => ({
  resourceType: 'Provenance',
  target: targets.map((reference) => ({ reference })),
  recorded,
  agent: [{ who: { display: 'Lab system' } }],
});

before(async () => {
  s = await startTestServer();
  token = await s.token('system/*.cruds');
  for (let i = 0; i < 2; i++) {
    pat.push(await create({ resourceType: 'Patient', name: [{ family: `Assoc${i}` }] }));
    obs.push(await create({ resourceType: 'Observation', status: i === 0 ? 'final' : 'preliminary', code: { text: 'x' }, subject: { reference: `Patient/${pat[i]}` } }));
  }
  cond = await create({ resourceType: 'Condition', subject: { reference: `Patient/${pat[0]}` }, code: { text: 'c' } });
  const gone = await create({ resourceType: 'Observation', status: 'final', code: { text: 'deleted' }, subject: { reference: `Patient/${pat[0]}` } });
  // Created out of order: "latest" goes by Provenance.recorded, not by when the Provenance was written.
  prov.obs0New = await create(provenance([`Observation/${obs[0]}`], '2024-03-01T00:00:00Z'));
  prov.obs0Old = await create(provenance([`Observation/${obs[0]}`], '2024-01-01T00:00:00Z'));
  prov.obs1 = await create(provenance([`Observation/${obs[1]}`], '2024-02-01T00:00:00Z'));
  prov.cond = await create(provenance([`Condition/${cond}`], '2024-02-01T00:00:00Z'));
  prov.gone = await create(provenance([`Observation/${gone}`], '2024-02-01T00:00:00Z'));
  // Two targets, the oldest Provenance of each: Relevant only.
  prov.shared = await create(provenance([`Condition/${cond}`, `Observation/${obs[1]}`], '2023-12-01T00:00:00Z'));
  prov.condNewest = await create(provenance([`Condition/${cond}`], '2024-06-01T00:00:00Z'));
  assert.equal((await s.fhir(`/Observation/${gone}`, { method: 'DELETE' })).status, 200);
});
after(async () => s.close());

const ids = (resources: Record<string, any>[], type: string) => resources.filter((r) => r.resourceType === type).map((r) => r.id as string).sort();
const named = (...names: string[]) => names.map((n) => prov[n]!).sort();

test('RelevantProvenanceResources adds every Provenance of the exported resources, in a Provenance file of its own', async () => {
  const { manifest, resources } = await exportAll(s.fhirUrl, token, '$export?_type=Observation&includeAssociatedData=RelevantProvenanceResources');
  assert.deepEqual(ids(resources, 'Observation'), [...obs].sort());
  assert.deepEqual(ids(resources, 'Provenance'), named('obs0New', 'obs0Old', 'obs1', 'shared'));
  assert.deepEqual(manifest.output.map((o) => o.type).sort(), ['Observation', 'Provenance']);
  assert.deepEqual(manifest.error, []);
});

test('LatestProvenanceResources keeps the most recent (by recorded) Provenance of each exported resource', async () => {
  const onlyObs = await exportAll(s.fhirUrl, token, '$export?_type=Observation&includeAssociatedData=LatestProvenanceResources');
  assert.deepEqual(ids(onlyObs.resources, 'Provenance'), named('obs0New', 'obs1'));
  const withCond = await exportAll(s.fhirUrl, token, '$export?_type=Observation,Condition&includeAssociatedData=LatestProvenanceResources');
  assert.deepEqual(ids(withCond.resources, 'Provenance'), named('obs0New', 'obs1', 'condNewest'));
  // Both values: Relevant covers Latest.
  const both = await exportAll(s.fhirUrl, token, '$export?_type=Condition&includeAssociatedData=LatestProvenanceResources,RelevantProvenanceResources');
  assert.deepEqual(ids(both.resources, 'Provenance'), named('cond', 'shared', 'condNewest'));
});

test('the associated Provenance follow the export filters: _typeFilter, patient, Group members', async () => {
  const filtered = await exportAll(s.fhirUrl, token, `$export?_type=Observation&_typeFilter=${encodeURIComponent('Observation?status=final')}&includeAssociatedData=RelevantProvenanceResources`);
  assert.deepEqual(ids(filtered.resources, 'Observation'), [obs[0]!]);
  assert.deepEqual(ids(filtered.resources, 'Provenance'), named('obs0New', 'obs0Old'));
  const body = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: `Patient/${pat[1]}` } },
      { name: 'includeAssociatedData', valueCode: 'RelevantProvenanceResources' },
    ],
  };
  const one = await exportAll(s.fhirUrl, token, 'Patient/$export', { method: 'POST', body });
  assert.deepEqual(ids(one.resources, 'Observation'), [obs[1]!]);
  assert.deepEqual(ids(one.resources, 'Provenance'), named('obs1', 'shared'));
  const group = await create({ resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${pat[0]}` } }] });
  const members = await exportAll(s.fhirUrl, token, `Group/${group}/$export?_type=Observation,Condition&includeAssociatedData=LatestProvenanceResources`);
  assert.deepEqual(ids(members.resources, 'Provenance'), named('obs0New', 'condNewest'));
});

test('Provenance exported as a type of its own is not repeated in the associated file', async () => {
  const { resources } = await exportAll(s.fhirUrl, token, '$export?_type=Observation,Provenance&includeAssociatedData=RelevantProvenanceResources');
  const keys = resources.map(key);
  assert.equal(new Set(keys).size, keys.length, 'no resource twice');
  assert.equal(ids(resources, 'Provenance').length, Object.keys(prov).length);
  // Provenance filtered as a type: the associated file adds the others that target exported Observations.
  const filter = encodeURIComponent('Provenance?recorded=ge2024-03-01');
  const mixed = await exportAll(s.fhirUrl, token, `$export?_type=Observation,Provenance&_typeFilter=${filter}&includeAssociatedData=RelevantProvenanceResources`);
  const files = mixed.manifest.output.filter((o) => o.type === 'Provenance');
  assert.equal(files.length, 2, 'the type file and the associated file');
  const lists = await Promise.all(files.map(async (f) => (await download(f.url, token)).map((r) => r.id as string).sort()));
  assert.deepEqual(lists.sort((a, b) => a.length - b.length), [named('obs0New', 'condNewest'), named('obs0Old', 'obs1', 'shared')]);
});

test('scopes: without Provenance read the associated data is left out with a warning', async () => {
  const narrow = await s.token('system/Observation.rs');
  const { resources, manifest } = await exportAll(s.fhirUrl, narrow, '$export?_type=Observation&includeAssociatedData=RelevantProvenanceResources');
  assert.deepEqual(ids(resources, 'Provenance'), []);
  assert.equal(manifest.error.length, 1);
  const outcomes = await download(manifest.error[0]!.url, narrow);
  assert.match(outcomes[0]!.issue[0].diagnostics, /includeAssociatedData left out.*Provenance/);
});

test('unknown values are 400, or ignored with a warning under handling=lenient', async () => {
  const strict = await kickoff(s.fhirUrl, token, '$export?_type=Observation&includeAssociatedData=_customThing');
  assert.equal(strict.status, 400);
  assert.deepEqual(strict.body.issue[0].expression, ['includeAssociatedData']);
  const { resources, manifest } = await exportAll(s.fhirUrl, token, '$export?_type=Observation&includeAssociatedData=_customThing,LatestProvenanceResources', {
    headers: { prefer: 'respond-async, handling=lenient' },
  });
  assert.deepEqual(ids(resources, 'Provenance'), named('obs0New', 'obs1'));
  const outcomes = await download(manifest.error[0]!.url, token);
  assert.match(outcomes[0]!.issue[0].diagnostics, /_customThing is not supported/);
});

test("the Provenance file's audit entry names the patients of its targets", async () => {
  const { statusUrl, manifest } = await exportAll(s.fhirUrl, token, '$export?_type=Observation&includeAssociatedData=RelevantProvenanceResources');
  const jobId = statusUrl.split('/').pop()!;
  const seq = manifest.output.find((o) => o.type === 'Provenance')!.url.split('/').pop();
  // Entries are format v2 (patients sealed, tags in patient_ids): read them opened, as an auditor does.
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  const entries = await keys.entries(`SELECT entry_id, canonical FROM audit_entry WHERE request_id = $1 AND action = 'operation'`, [`bulk/${jobId}/${seq}`]);
  await keys.close();
  assert.equal(entries.length, 1);
  assert.deepEqual(patientsOf(entries[0]!).sort(), pat.map((p) => `Patient/${p}`).sort());
});
