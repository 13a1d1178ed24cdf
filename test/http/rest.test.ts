import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.close();
});

const patient = { resourceType: 'Patient', name: [{ family: 'Żółć', given: ['Anna'] }], gender: 'female', birthDate: '1980-05-17' };

describe('authentication', () => {
  test('metadata is public and describes the server', async () => {
    const res = await s.fhir('/metadata', { token: null });
    assert.equal(res.status, 200);
    assert.equal(res.body.resourceType, 'CapabilityStatement');
    assert.equal(res.body.fhirVersion, '4.0.1');
  });
  test('the CapabilityStatement is valid and states what is served: AuditEvent read and search only, composites, $reindex', async () => {
    const cap = (await s.fhir('/metadata', { token: null })).body;
    const checked = await s.fhir('/CapabilityStatement/$validate', { method: 'POST', json: cap });
    assert.deepEqual(checked.body.issue.filter((i: any) => i.severity === 'error'), []);
    const rest = cap.rest[0];
    const of = (type: string) => rest.resource.find((r: any) => r.type === type);
    assert.deepEqual(of('AuditEvent').interaction.map((i: any) => i.code), ['read', 'search-type']);
    assert.deepEqual(of('AuditEvent').searchParam.map((p: any) => p.name).sort(), ['_id', 'action', 'agent', 'date', 'entity', 'entity-type', 'outcome', 'patient', 'subtype', 'type']);
    assert.ok(of('Observation').searchParam.some((p: any) => p.name === 'component-code-value-quantity' && p.type === 'composite'));
    assert.ok(rest.operation.some((o: any) => o.name === 'reindex'));
    // A composite it lists works.
    const composite = await s.fhir('/Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100');
    assert.equal(composite.status, 200);
    // AuditEvent really is read-only, as stated.
    assert.equal((await s.fhir('/AuditEvent', { method: 'POST', json: { resourceType: 'AuditEvent' } })).status, 405);
  });
  test('no token → 401 with WWW-Authenticate', async () => {
    const res = await s.fhir('/Patient', { token: null });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
    assert.equal(res.body.resourceType, 'OperationOutcome');
  });
  test('garbage token → 401', async () => {
    const res = await s.fhir('/Patient/x', { token: 'not.a.token' });
    assert.equal(res.status, 401);
  });
  test('token without the scope → 403', async () => {
    const readOnly = await s.token('system/Observation.rs');
    const res = await s.fhir('/Patient', { method: 'POST', token: readOnly, json: patient });
    assert.equal(res.status, 403);
    const search = await s.fhir('/Observation', { token: readOnly });
    assert.equal(search.status, 200);
  });
});

describe('CRUD', () => {
  test('create, read, vread, update, delete, history', async () => {
    const created = await s.fhir('/Patient', { method: 'POST', json: patient });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    assert.match(created.headers.get('location') ?? '', new RegExp(`/fhir/Patient/${id}/_history/1$`));
    assert.equal(created.headers.get('etag'), 'W/"1"');
    assert.ok(created.headers.get('last-modified'));

    const read = await s.fhir(`/Patient/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.name, patient.name);
    assert.equal(read.body.meta.versionId, '1');

    const updated = await s.fhir(`/Patient/${id}`, { method: 'PUT', json: { ...patient, id, gender: 'other' }, headers: { 'if-match': 'W/"1"' } });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.meta.versionId, '2');

    const stale = await s.fhir(`/Patient/${id}`, { method: 'PUT', json: { ...patient, id }, headers: { 'if-match': 'W/"1"' } });
    assert.equal(stale.status, 412);

    const v1 = await s.fhir(`/Patient/${id}/_history/1`);
    assert.equal(v1.body.gender, 'female');

    const patched = await s.fhir(`/Patient/${id}`, { method: 'PATCH', body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'male' }]), headers: { 'content-type': 'application/json-patch+json' } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.gender, 'male');

    const del = await s.fhir(`/Patient/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await s.fhir(`/Patient/${id}`)).status, 410);

    const hist = await s.fhir(`/Patient/${id}/_history`);
    assert.equal(hist.status, 200);
    assert.equal(hist.body.type, 'history');
    assert.equal(hist.body.total, 4);
    assert.equal(hist.body.entry[0].request.method, 'DELETE');
  });

  test('conditional read: If-None-Match, and If-Modified-Since in whole seconds', async () => {
    const created = await s.fhir('/Patient', { method: 'POST', json: patient });
    const id = created.body.id as string;
    const lastModified = created.headers.get('last-modified')!;
    assert.equal((await s.fhir(`/Patient/${id}`, { headers: { 'if-none-match': 'W/"1"' } })).status, 304);
    assert.equal((await s.fhir(`/Patient/${id}`, { headers: { 'if-modified-since': lastModified } })).status, 304);
    assert.equal((await s.fhir(`/Patient/${id}`, { headers: { 'if-modified-since': 'Sat, 01 Jan 2000 00:00:00 GMT' } })).status, 200);
    assert.equal((await s.fhir(`/Patient/${id}`, { headers: { 'if-modified-since': 'not a date' } })).status, 200);
    // If-None-Match wins: a stale ETag is answered in full even when the date says unchanged.
    assert.equal((await s.fhir(`/Patient/${id}`, { headers: { 'if-none-match': 'W/"7"', 'if-modified-since': lastModified } })).status, 200);
  });
  test('update as create with a client id; Prefer return=minimal', async () => {
    const res = await s.fhir('/Patient/client-id-1', { method: 'PUT', json: { ...patient, id: 'client-id-1' }, headers: { prefer: 'return=minimal' } });
    assert.equal(res.status, 201);
    assert.equal(res.body, undefined);
    const again = await s.fhir('/Patient/client-id-1', { method: 'PUT', json: { ...patient, id: 'client-id-1' }, headers: { prefer: 'return=OperationOutcome' } });
    assert.equal(again.status, 200);
    assert.equal(again.body.resourceType, 'OperationOutcome');
  });

  test('conditional create with If-None-Exist', async () => {
    const body = { ...patient, identifier: [{ system: 'urn:mrn', value: 'cond-1' }] };
    const first = await s.fhir('/Patient', { method: 'POST', json: body, headers: { 'if-none-exist': 'identifier=urn:mrn|cond-1' } });
    assert.equal(first.status, 201);
    const second = await s.fhir('/Patient', { method: 'POST', json: body, headers: { 'if-none-exist': 'identifier=urn:mrn|cond-1' } });
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);
  });

  test('conditional update and delete', async () => {
    const body = { ...patient, identifier: [{ system: 'urn:mrn', value: 'cond-2' }] };
    const created = await s.fhir('/Patient?identifier=urn:mrn|cond-2', { method: 'PUT', json: body });
    assert.equal(created.status, 201);
    const updated = await s.fhir('/Patient?identifier=urn:mrn|cond-2', { method: 'PUT', json: { ...body, gender: 'unknown' } });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.id, created.body.id);
    const deleted = await s.fhir('/Patient?identifier=urn:mrn|cond-2', { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    assert.equal((await s.fhir(`/Patient/${created.body.id}`)).status, 410);
  });

  test('concurrent updates with the same If-Match: exactly one succeeds', async () => {
    const created = await s.fhir('/Patient', { method: 'POST', json: patient });
    const id = created.body.id as string;
    const attempts = await Promise.all(
      // Each body differs from version 1: one equal to it would change nothing and also answer 200.
      Array.from({ length: 8 }, (_, i) => s.fhir(`/Patient/${id}`, { method: 'PUT', json: { ...patient, id, gender: i % 2 ? 'male' : 'other' }, headers: { 'if-match': 'W/"1"' } })),
    );
    const statuses = attempts.map((a) => a.status).sort();
    assert.equal(statuses.filter((x) => x === 200).length, 1, `statuses ${statuses.join(',')}`);
    assert.equal(statuses.filter((x) => x === 412).length, 7);
  });

  test('conditional patch: one match is patched, none is 404, several are 412, no criteria 400', async () => {
    const mrn = `cp-${Date.now()}`;
    const id = (await s.fhir('/Patient', { method: 'POST', json: { ...patient, identifier: [{ system: 'urn:test:mrn', value: mrn }] } })).body.id as string;
    await s.fhir('/Patient', { method: 'POST', json: { ...patient, identifier: [{ system: 'urn:test:twin', value: 'same' }] } });
    await s.fhir('/Patient', { method: 'POST', json: { ...patient, identifier: [{ system: 'urn:test:twin', value: 'same' }] } });
    const patchWhere = (query: string) =>
      s.fhir(`/Patient?${query}`, { method: 'PATCH', body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'unknown' }]), headers: { 'content-type': 'application/json-patch+json' } });
    const one = await patchWhere(`identifier=urn:test:mrn|${mrn}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.id, id);
    assert.equal((await s.fhir(`/Patient/${id}`)).body.gender, 'unknown');
    assert.equal((await patchWhere('identifier=urn:test:mrn|nobody')).status, 404);
    assert.equal((await patchWhere('identifier=urn:test:twin|same')).status, 412);
    assert.equal((await s.fhir('/Patient', { method: 'PATCH', body: '[]', headers: { 'content-type': 'application/json-patch+json' } })).status, 400);
    // In a transaction, as a Binary holding the JSON Patch.
    const data = Buffer.from(JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }])).toString('base64');
    const tx = await s.fhir('', {
      method: 'POST',
      json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: `Patient?identifier=urn:test:mrn|${mrn}` } }] },
    });
    assert.equal(tx.status, 200, JSON.stringify(tx.body));
    assert.equal((await s.fhir(`/Patient/${id}`)).body.gender, 'other');
  });

  test('FHIRPath Patch: a Parameters body patches, in a transaction too with its urn:uuid references resolved; a bad one changes nothing', async () => {
    const id = (await s.fhir('/Patient', { method: 'POST', json: { ...patient, name: [{ family: 'Before', given: ['A'] }] } })).body.id as string;
    const operation = (...part: object[]) => ({ name: 'operation', part });
    const replaceFamily = operation({ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.name[0].family' }, { name: 'value', valueString: 'After' });
    const res = await s.fhir(`/Patient/${id}`, { method: 'PATCH', json: { resourceType: 'Parameters', parameter: [replaceFamily] } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.name[0].family, 'After');
    assert.equal(res.body.meta.versionId, '2');

    const tx = await s.fhir('', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:0b3f6c1e-5f7a-4c59-9d0e-2f1d9c3b7a10', resource: { resourceType: 'Organization', name: 'Clinic' }, request: { method: 'POST', url: 'Organization' } },
          {
            resource: { resourceType: 'Parameters', parameter: [operation({ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'managingOrganization' }, { name: 'value', valueReference: { reference: 'urn:uuid:0b3f6c1e-5f7a-4c59-9d0e-2f1d9c3b7a10' } })] },
            request: { method: 'PATCH', url: `Patient/${id}` },
          },
        ],
      },
    });
    assert.equal(tx.status, 200, JSON.stringify(tx.body));
    const orgId = /Organization\/([^/]+)/.exec(String(tx.body.entry[0].response.location))?.[1];
    assert.equal((await s.fhir(`/Patient/${id}`)).body.managingOrganization.reference, `Organization/${orgId}`);

    // Refused: a choice type the element does not have; the store keeps version 3.
    const bad = await s.fhir(`/Patient/${id}`, {
      method: 'PATCH',
      json: { resourceType: 'Parameters', parameter: [replaceFamily, operation({ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'deceased' }, { name: 'value', valueString: 'yes' })] },
    });
    assert.equal(bad.status, 422, JSON.stringify(bad.body));
    assert.equal(bad.body.issue[0].details.coding[0].code, 'PATCH_INVALID');
    assert.equal((await s.fhir(`/Patient/${id}`)).body.meta.versionId, '3');
    // A result that fails validation is refused like any write.
    const invalid = await s.fhir(`/Patient/${id}`, { method: 'PATCH', json: { resourceType: 'Parameters', parameter: [operation({ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.gender' }, { name: 'value', valueCode: 'robot' })] } });
    assert.equal(invalid.status, 422);
    assert.deepEqual(invalid.body.issue[0].expression, ['Patient.gender']);
    const malformed = await s.fhir(`/Patient/${id}`, { method: 'PATCH', json: { resourceType: 'Parameters', parameter: [{ name: 'op' }] } });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.issue[0].details.coding[0].code, 'FHIRPATH_PATCH_MALFORMED');
  });
});

describe('bad input answers with OperationOutcome and changes nothing', () => {
  before(async () => {
    assert.equal((await s.fhir('/Patient/patch-target', { method: 'PUT', json: { resourceType: 'Patient', id: 'patch-target' } })).status, 201);
  });
  const jsonPatch = (ops: unknown[]) => s.fhir('/Patient/patch-target', { method: 'PATCH', body: JSON.stringify(ops), headers: { 'content-type': 'application/json-patch+json' } });
  const cases: [string, () => Promise<{ status: number; body: any }>, number][] = [
    ['malformed JSON', () => s.fhir('/Patient', { method: 'POST', body: '{"resourceType": "Patient",', headers: { 'content-type': 'application/fhir+json' } }), 400],
    ['wrong resourceType', () => s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Observation' } }), 400],
    ['id mismatch on PUT', () => s.fhir('/Patient/a', { method: 'PUT', json: { resourceType: 'Patient', id: 'b' } }), 400],
    ['unknown type', () => s.fhir('/Unicorn/1'), 404],
    ['invalid resource', () => s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', gender: 'robot' } }), 422],
    ['unknown element', () => s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', colour: 'blue' } }), 422],
    ['bad search value', () => s.fhir('/Patient?birthdate=notadate'), 400],
    ['XML body', () => s.fhir('/Patient', { method: 'POST', body: '<Patient/>', headers: { 'content-type': 'application/fhir+xml' } }), 415],
    ['strict unknown parameter', () => s.fhir('/Patient?foo=bar', { headers: { prefer: 'handling=strict' } }), 400],
    ['JSON Patch through __proto__', () => jsonPatch([{ op: 'add', path: '/__proto__/polluted', value: 'yes' }]), 422],
    ['JSON Patch copying from constructor', () => jsonPatch([{ op: 'copy', from: '/constructor/prototype', path: '/gender' }]), 422],
    ['an operation Haven does not have (type level)', () => s.fhir('/ValueSet/$expand?url=http://example.org/vs'), 405],
    ['an operation Haven does not have (instance level)', () => s.fhir('/Patient/patch-target/$frobnicate'), 405],
    ['metadata in a mode Haven does not publish', () => s.fhir('/metadata?mode=terminology'), 400],
    // U+0000 cannot be stored in PostgreSQL text: each of these was a 500.
    ['an encoded NUL in the URL', () => s.fhir('/Patient?_tag=a%00b'), 400],
    ['a NUL in a JSON string', () => s.fhir('/Basic', { method: 'POST', body: '{"resourceType":"Basic","code":{"coding":[{"system":"http://x","code":"a\\u0000b"}]}}', headers: { 'content-type': 'application/fhir+json' } }), 400],
    ['a NUL in a form field', () => s.fhir('/Patient/_search', { method: 'POST', body: '_tag=a%00b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400],
    ['a NUL in If-None-Exist', () => s.fhir('/Basic', { method: 'POST', json: { resourceType: 'Basic', code: { text: 'x' } }, headers: { 'if-none-exist': '_tag=a%00b' } }), 400],
    ['a NUL in a conditional reference', () => s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?_tag=a%00b' } }, request: { method: 'POST', url: 'Observation' } }] } }), 400],
    ['a lone surrogate in a string', () => s.fhir('/Basic', { method: 'POST', body: '{"resourceType":"Basic","code":{"text":"a\\ud800"}}', headers: { 'content-type': 'application/fhir+json' } }), 422],
    ['extensions nested 5,000 deep', () => {
      let ext = '{"url":"http://x","valueString":"y"}';
      for (let i = 0; i < 5000; i++) ext = `{"url":"http://x","extension":[${ext}]}`;
      return s.fhir('/Basic', { method: 'POST', body: `{"resourceType":"Basic","code":{"text":"x"},"extension":[${ext}]}`, headers: { 'content-type': 'application/fhir+json' } });
    }, 422],
  ];
  for (const [name, run, status] of cases) {
    test(name, async () => {
      const before = await s.testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_version');
      const res = await run();
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.ok(res.body.issue[0].diagnostics);
      const afterCount = await s.testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_version');
      assert.equal(afterCount.rows[0]?.n, before.rows[0]?.n);
    });
  }
  test('a JSON Patch through __proto__ is refused by name and pollutes nothing', async () => {
    const res = await jsonPatch([{ op: 'add', path: '/__proto__/polluted', value: 'yes' }]);
    assert.equal(res.body.issue[0].details.coding[0].code, 'PATCH_INVALID');
    assert.match(res.body.issue[0].diagnostics, /__proto__/);
    assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
  });
  test('metadata answers the full and normative modes', async () => {
    for (const mode of ['full', 'normative']) assert.equal((await s.fhir(`/metadata?mode=${mode}`)).body.resourceType, 'CapabilityStatement');
  });
  test('a JSON string holding the six characters \\u0000 (an escaped backslash) is not a NUL', async () => {
    const res = await s.fhir('/Basic', { method: 'POST', body: '{"resourceType":"Basic","code":{"text":"a\\\\u0000b"}}', headers: { 'content-type': 'application/fhir+json' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.code.text, 'a\\u0000b');
  });
  test('oversized body → 413', async () => {
    const small = await startTestServer({ HAVEN_MAX_BODY_BYTES: '1000' });
    try {
      const res = await small.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(2000)}</div>` } } });
      assert.equal(res.status, 413);
      assert.equal(res.body.resourceType, 'OperationOutcome');
    } finally {
      await small.close();
    }
  });
});

describe('search', () => {
  test('by family (accent-insensitive), birthdate, with total and paging links', async () => {
    for (let i = 0; i < 3; i++) await s.fhir('/Patient', { method: 'POST', json: { ...patient, name: [{ family: 'Searchable', given: [`G${i}`] }] } });
    const res = await s.fhir('/Patient?family=searchable&birthdate=1980-05&_count=2&_total=accurate');
    assert.equal(res.status, 200);
    assert.equal(res.body.type, 'searchset');
    assert.equal(res.body.total, 3);
    assert.equal(res.body.entry.length, 2);
    const next = res.body.link.find((l: { relation: string }) => l.relation === 'next');
    assert.ok(next);
    const page2 = await s.fhir(next.url.replace(s.fhirUrl, ''));
    assert.equal(page2.body.entry.length, 1);
    const accents = await s.fhir('/Patient?family=zolc');
    assert.ok(accents.body.entry.length >= 1);
  });
  test('unknown parameters are reported in an OperationOutcome entry', async () => {
    const res = await s.fhir('/Patient?nonsense=1');
    assert.equal(res.status, 200);
    const outcome = res.body.entry.find((e: { search: { mode: string } }) => e.search.mode === 'outcome');
    assert.ok(outcome);
  });
  test('POST _search equals GET', async () => {
    const get = await s.fhir('/Patient?family=Searchable&_total=accurate');
    const post = await s.fhir('/Patient/_search', { method: 'POST', body: 'family=Searchable&_total=accurate', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(post.status, 200);
    assert.equal(post.body.total, get.body.total);
  });
  test('_summary and _elements', async () => {
    const res = await s.fhir('/Patient?family=Searchable&_elements=gender');
    const r = res.body.entry[0].resource;
    assert.equal(r.name, undefined);
    assert.equal(r.gender, 'female');
    const count = await s.fhir('/Patient?family=Searchable&_summary=count');
    assert.equal(count.body.total, 3);
    assert.equal(count.body.entry, undefined);
  });
});

describe('$validate', () => {
  test('reports issues without storing anything', async () => {
    const before = await s.testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_version');
    const bad = await s.fhir('/Patient/$validate', { method: 'POST', json: { resourceType: 'Patient', gender: 'robot', colour: 'blue' } });
    assert.equal(bad.status, 200);
    assert.equal(bad.body.resourceType, 'OperationOutcome');
    assert.ok(bad.body.issue.length >= 2);
    assert.ok(bad.body.issue.every((i: { expression?: string[] }) => i.expression && i.expression.length > 0));
    const good = await s.fhir('/Patient/$validate', {
      method: 'POST',
      json: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient }] },
    });
    assert.equal(good.body.issue[0].severity, 'information');
    const afterCount = await s.testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_version');
    assert.equal(afterCount.rows[0]?.n, before.rows[0]?.n);
  });

  test('a nominated profile Haven cannot check is an error (R4 Resource-validate); the base definition is checked; claimed profiles are reported unchecked', async () => {
    const usCore = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
    const refused = await s.fhir(`/Patient/$validate?profile=${encodeURIComponent(usCore)}`, { method: 'POST', json: patient });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.issue[0].details.coding[0].code, 'VALIDATE_PROFILE_UNSUPPORTED');
    const inBody = await s.fhir('/Patient/$validate', { method: 'POST', json: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient }, { name: 'profile', valueCanonical: usCore }] } });
    assert.equal(inBody.body.issue[0].details.coding[0].code, 'VALIDATE_PROFILE_UNSUPPORTED');
    const base = await s.fhir(`/Patient/$validate?profile=${encodeURIComponent('http://hl7.org/fhir/StructureDefinition/Patient|4.0.1')}`, { method: 'POST', json: { ...patient, gender: 'robot' } });
    assert.equal(base.status, 200);
    assert.deepEqual(base.body.issue.map((i: { expression: string[] }) => i.expression[0]), ['Patient.gender']);
    const claimed = await s.fhir('/Patient/$validate', { method: 'POST', json: { ...patient, meta: { profile: [usCore] } } });
    assert.deepEqual(claimed.body.issue.map((i: { severity: string; code: string }) => `${i.severity} ${i.code}`), ['warning not-supported']);
    assert.match(claimed.body.issue[0].diagnostics, /us-core-patient/);
    const update = await s.fhir('/Patient/$validate?mode=update', { method: 'POST', json: patient });
    assert.deepEqual(update.body.issue.map((i: { expression: string[] }) => i.expression[0]), ['id']);
    assert.equal((await s.fhir('/Patient/$validate?mode=frobnicate', { method: 'POST', json: patient })).body.issue[0].details.coding[0].code, 'VALIDATE_BAD_MODE');
  });
});

test('a path with an invalid percent-escape → 400 OperationOutcome', async () => {
  const res = await s.fhir('/Patient/%E0%A4%A');
  assert.equal(res.status, 400);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].details.coding[0].code, 'URL_MALFORMED');
});

test('a create with search parameters in its URL is refused, not taken as a plain create', async () => {
  const value = `cq-${Date.now()}`;
  const patient = { resourceType: 'Patient', identifier: [{ system: 'http://example.org/mrn', value }] };
  const plain = await s.fhir(`/Patient?identifier=http://example.org/mrn|${value}`, { method: 'POST', json: patient });
  assert.equal(plain.status, 400);
  assert.equal(plain.body.issue[0].details.coding[0].code, 'CREATE_QUERY_UNSUPPORTED');
  assert.doesNotMatch(plain.body.issue[0].diagnostics, new RegExp(value), 'names the parameter, not its value');
  for (const type of ['transaction', 'batch']) {
    const res = await s.fhir('', {
      method: 'POST',
      json: { resourceType: 'Bundle', type, entry: [{ resource: patient, request: { method: 'POST', url: `Patient?identifier=http://example.org/mrn|${value}` } }] },
    });
    const outcome = type === 'transaction' ? res.body : res.body.entry[0].response.outcome;
    assert.equal(type === 'transaction' ? res.status : res.body.entry[0].response.status.slice(0, 3), type === 'transaction' ? 400 : '400', type);
    assert.equal(outcome.issue[0].details.coding[0].code, 'CREATE_QUERY_UNSUPPORTED', type);
  }
  assert.equal((await s.fhir(`/Patient?identifier=http://example.org/mrn|${value}&_summary=count`)).body.total, 0, 'nothing was created');
  // The response-format parameters are not search parameters.
  const formatted = await s.fhir('/Patient?_format=json&_pretty=true', { method: 'POST', json: patient });
  assert.equal(formatted.status, 201);
});

test('a request line over 16 KB (a GET search with very many ids) → 431 OperationOutcome that points to POST _search', async () => {
  const ids = Array.from({ length: 1500 }, (_, i) => `id-${i}-padding`).join(',');
  const res = await s.fhir(`/Patient?_id=${ids}`);
  assert.equal(res.status, 431);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].details.coding[0].code, 'REQUEST_HEADERS_TOO_LARGE');
  assert.match(res.body.issue[0].diagnostics, /_search/);
  // The same search as a form body works.
  const post = await s.fhir('/Patient/_search', { method: 'POST', body: new URLSearchParams({ _id: ids }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(post.status, 200);
  assert.equal(post.body.resourceType, 'Bundle');
});

describe('large batches', () => {
  test('a transaction of 10,000 entries (more rows than one statement takes parameters for) is stored and indexed', async () => {
    const code = `bulk-${Date.now()}`;
    const entry = Array.from({ length: 10000 }, () => ({ resource: { resourceType: 'Basic', code: { coding: [{ system: 'http://example.org/t', code }] } }, request: { method: 'POST', url: 'Basic' } }));
    const res = await s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry } });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 500));
    assert.equal(res.body.entry.length, 10000);
    const count = await s.fhir(`/Basic?code=http://example.org/t|${code}&_summary=count`);
    assert.equal(count.body.total, 10000);
    const last = res.body.entry[9999].response.location.split('/')[1];
    assert.equal((await s.fhir(`/Basic/${last}`)).status, 200);
  });
});
