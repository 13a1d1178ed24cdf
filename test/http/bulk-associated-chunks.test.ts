import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, patientsOf } from '../support/audit-keys.js';
import { download, exportAll, key } from '../bulk/support.js';

/**
 * includeAssociatedData across several chunks (two resources per file): the
 * Provenance are found per exported chunk through their targets, and one with
 * targets in several chunks or of several types is written exactly once, in
 * the chunk of its first exported target, whatever the filters.
 */
let s: TestServer;
let token: string;
const prov: Record<string, string> = {};

async function put(resource: Record<string, unknown>): Promise<void> {
  const res = await s.fhir(`/${String(resource.resourceType)}/${String(resource.id)}`, { method: 'PUT', json: resource });
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
}

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
  s = await startTestServer({ HAVEN_BULK_MAX_FILE_RESOURCES: '2' });
  token = await s.token('system/*.cruds');
  await put({ resourceType: 'Patient', id: 'pa', name: [{ family: 'A' }] });
  await put({ resourceType: 'Patient', id: 'pb', name: [{ family: 'B' }] });
  // Observations o1…o6 in three chunks of two ids: o1-o2, o3-o4, o5-o6. Odd ones are pa's, even ones pb's.
  for (let i = 1; i <= 6; i++) {
    await put({ resourceType: 'Observation', id: `o${i}`, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${i % 2 === 1 ? 'pa' : 'pb'}` } });
  }
  await put({ resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/pa' }, code: { text: 'c' } });
  prov.one = await create(provenance(['Observation/o1'], '2024-01-01T00:00:00Z'));
  prov.sameChunk = await create(provenance(['Observation/o1', 'Observation/o2'], '2024-02-01T00:00:00Z'));
  prov.acrossChunks = await create(provenance(['Observation/o2', 'Observation/o5'], '2024-01-15T00:00:00Z'));
  prov.acrossTypes = await create(provenance(['Condition/c1', 'Observation/o6'], '2024-01-01T00:00:00Z'));
  // Targets o3 and o5 (chunks 2 and 3): older than o3's other Provenance, newer than o5's: the latest of o5 only.
  prov.o3o5 = await create(provenance(['Observation/o3', 'Observation/o5'], '2024-03-01T00:00:00Z'));
  prov.o3New = await create(provenance(['Observation/o3'], '2024-05-01T00:00:00Z'));
  prov.o4Old = await create(provenance(['Observation/o4'], '2024-02-01T00:00:00Z'));
  prov.patient = await create(provenance(['Patient/pb'], '2024-01-01T00:00:00Z'));
});
after(async () => s.close());

const named = (...names: string[]) => names.map((n) => prov[n]!).sort();

async function associated(path: string, init: Parameters<typeof exportAll>[3] = {}) {
  const { resources, manifest, statusUrl } = await exportAll(s.fhirUrl, token, path, init);
  const keys = resources.map(key);
  assert.equal(new Set(keys).size, keys.length, 'no resource twice');
  const files = manifest.output.filter((o) => o.type === 'Provenance');
  return { ids: resources.filter((r) => r.resourceType === 'Provenance').map((r) => r.id as string).sort(), files, statusUrl };
}

test('Relevant: each Provenance once, whether its targets share a chunk, span chunks or span types', async () => {
  const r = await associated('$export?_type=Observation,Condition,Patient&includeAssociatedData=RelevantProvenanceResources');
  assert.deepEqual(r.ids, named('one', 'sameChunk', 'acrossChunks', 'acrossTypes', 'o3o5', 'o3New', 'o4Old', 'patient'));
  assert.ok(r.files.length >= 3, `Provenance found in several chunks (${r.files.length} files)`);
  const onlyLast = await associated(`$export?_type=Observation&_typeFilter=${encodeURIComponent('Observation?_id=o5,o6')}&includeAssociatedData=RelevantProvenanceResources`);
  // o2 and o3 are not exported: acrossChunks and o3o5 belong to o5 now, and acrossTypes to o6 without Condition.
  assert.deepEqual(onlyLast.ids, named('acrossChunks', 'acrossTypes', 'o3o5'));
});

test('Latest: a Provenance that is the latest of only its second target is written with that one', async () => {
  const r = await associated('$export?_type=Observation&includeAssociatedData=LatestProvenanceResources');
  // o1: sameChunk; o2: sameChunk; o3: o3New; o4: o4Old; o5: o3o5 (not o3's latest: written with o5); o6: acrossTypes.
  assert.deepEqual(r.ids, named('sameChunk', 'o3New', 'o4Old', 'o3o5', 'acrossTypes'));
  const onlyO3 = await associated(`$export?_type=Observation&_typeFilter=${encodeURIComponent('Observation?_id=o3,o4')}&includeAssociatedData=LatestProvenanceResources`);
  assert.deepEqual(onlyO3.ids, named('o3New', 'o4Old'));
});

test("Patient level: one patient's export holds the Provenance of that patient's resources only", async () => {
  const body = (id: string) => ({
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: `Patient/${id}` } },
      { name: 'includeAssociatedData', valueCode: 'RelevantProvenanceResources' },
    ],
  });
  const a = await associated('Patient/$export', { method: 'POST', body: body('pa') });
  assert.deepEqual(a.ids, named('one', 'sameChunk', 'acrossChunks', 'acrossTypes', 'o3o5', 'o3New'));
  const b = await associated('Patient/$export', { method: 'POST', body: body('pb') });
  assert.deepEqual(b.ids, named('sameChunk', 'acrossChunks', 'acrossTypes', 'o4Old', 'patient'));
});

test('every associated file has its own audit entry naming the patients of its Provenance', async () => {
  const r = await associated('$export?_type=Observation&includeAssociatedData=RelevantProvenanceResources');
  const jobId = r.statusUrl.split('/').pop()!;
  // Entries are format v2 (patients sealed, tags in patient_ids): read them opened, as an auditor does.
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  try {
    for (const f of r.files) {
      const seq = f.url.split('/').pop();
      const entries = await keys.entries(`SELECT entry_id, canonical FROM audit_entry WHERE request_id = $1 AND action = 'operation'`, [`bulk/${jobId}/${seq}`]);
      assert.equal(entries.length, 1, `one entry for file ${seq}`);
      const lines = await download(f.url, token);
      const expected = new Set<string>();
      for (const p of lines) {
        for (const t of p.target as { reference: string }[]) {
          const n = Number(/^Observation\/o(\d)$/.exec(t.reference)?.[1]);
          if (n) expected.add(`Patient/${n % 2 === 1 ? 'pa' : 'pb'}`);
          if (t.reference === 'Condition/c1') expected.add('Patient/pa');
        }
      }
      assert.deepEqual(patientsOf(entries[0]!).sort(), [...expected].sort());
    }
  } finally {
    await keys.close();
  }
});
