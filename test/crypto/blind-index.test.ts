import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/server.js';
import { kickoff, waitForManifest } from '../bulk/support.js';

/**
 * Blind indexes end to end: Patients written through the API with encryption
 * on (the default), searched by protected parameters over HTTP, and the index
 * rows at rest read directly.
 */
let s: TestServer;
const tag = randomBytes(4).toString('hex');
const family = `Blindfam${tag}`;
const mrn = `MRN-${tag}`;
const phone = `+1-555-${tag}`;
let id = '';
let other = '';

before(async () => {
  s = await startTestServer();
  const patient = {
    resourceType: 'Patient',
    name: [{ family, given: ['Zoë', 'Anna'] }],
    identifier: [{ system: 'urn:mrn', value: mrn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }], text: 'Medical record' } }],
    telecom: [{ system: 'phone', value: phone }],
    address: [{ line: ['12 Canary Lane'], city: 'Springfield', postalCode: '99999' }],
    birthDate: '1970-01-02',
  };
  const res = await s.fhir('/Patient', { method: 'POST', json: patient });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  id = res.body.id;
  const res2 = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `${family}son`, given: ['Bob'] }], identifier: [{ system: 'urn:other', value: mrn }] } });
  other = res2.body.id;
  const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${id}`, identifier: { system: 'urn:mrn', value: mrn } } };
  assert.equal((await s.fhir('/Observation', { method: 'POST', json: obs })).status, 201);
});
after(() => s?.close());

async function ids(path: string): Promise<string[]> {
  const res = await s.fhir(path);
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
  return ((res.body.entry ?? []) as { resource: { id: string } }[]).map((e) => e.resource.id).sort();
}

test('protected string parameters: starts-with, case/accent-insensitive, :exact, whole values past the prefix limit', async () => {
  assert.deepEqual(await ids(`/Patient?family=${family}`), [id, other].sort());
  assert.deepEqual(await ids(`/Patient?family=${family}son`), [other]);
  assert.deepEqual(await ids(`/Patient?family=${family.slice(0, 3).toUpperCase()}&birthdate=1970-01-02`), [id]);
  assert.deepEqual(await ids('/Patient?given=zoe&family=' + family), [id]);
  assert.deepEqual(await ids(`/Patient?name=${family}&given=ann`), [id]);
  // Under three characters a search string matches whole values only (no 1- or 2-letter prefix tags).
  assert.deepEqual(await ids(`/Patient?name=${family}&given=an`), []);
  assert.deepEqual(await ids(`/Patient?name=${family}&given=Zo`), []);
  assert.deepEqual(await ids(`/Patient?family:exact=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?family:exact=${family.toLowerCase()}`), []);
  assert.deepEqual(await ids(`/Patient?family=${family}x`), []);
  assert.deepEqual(await ids('/Patient?address-city=spring&family=' + family), [id]);
  assert.deepEqual(await ids('/Patient?address=12%20canary&family=' + family), [id]);
});

test('a tag is stored once, under the narrowest parameter; name, phonetic and address still find it', async () => {
  const q = (sql: string) => s.testDb.db.query<{ param: string; n: string }>(sql).then((r) => r.rows);
  const counts = Object.fromEntries((await q(`SELECT param, count(*) AS n FROM idx_string WHERE resource_id = '${id}' GROUP BY param`)).map((r) => [r.param, Number(r.n)]));
  // Every part of the name is a family or given name: name and phonetic hold no rows of their own.
  assert.equal(counts['name'], undefined);
  assert.equal(counts['phonetic'], undefined);
  assert.ok(counts['family']! > 3 && counts['given']! > 2);
  // address keeps its line (exact value and prefixes); the city's and postal code's tags are under address-city and address-postalcode.
  assert.equal(counts['address'], 1 + Array.from('12 canary lane').length - 2);
  const both = await q(`SELECT a.param, count(*) AS n FROM idx_string a JOIN idx_string b ON b.resource_id = a.resource_id AND b.blind = a.blind AND b.param <> a.param
    WHERE a.resource_id = '${id}' AND a.param IN ('family', 'given', 'address-city', 'address-postalcode') AND b.param IN ('name', 'phonetic', 'address') GROUP BY a.param`);
  assert.deepEqual(both, []);
  assert.deepEqual(await ids(`/Patient?phonetic=${family.slice(0, 5)}`), [id, other].sort());
  assert.deepEqual(await ids(`/Patient?name=${family}son`), [other]);
  assert.deepEqual(await ids(`/Patient?name=zo&family=${family}`), []);
  assert.deepEqual(await ids(`/Patient?name=zoe&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?phonetic=anna&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?address=spring&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?address=999&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?address=12%20can&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?name:exact=Zo%C3%AB&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?name:exact=zoe&family=${family}`), []);
  assert.deepEqual(await ids(`/Patient?phonetic:exact=${family}son`), [other]);
  assert.deepEqual(await ids(`/Patient?address:exact=Springfield&family=${family}`), [id]);
  assert.deepEqual(await ids(`/Patient?address:exact=12%20Canary%20Lane&family=${family}`), [id]);
  // :missing reads the same rows: a name made only of family and given names is not missing.
  assert.deepEqual(await ids(`/Patient?name:missing=false&family=${family}`), [id, other].sort());
  assert.deepEqual(await ids(`/Patient?name:missing=true&family=${family}`), []);
  assert.deepEqual(await ids(`/Patient?phonetic:missing=true&family=${family}`), []);
  assert.deepEqual(await ids(`/Patient?address:missing=true&family=${family}`), [other]);
  assert.deepEqual(await ids(`/Patient?address:missing=false&family=${family}`), [id]);
  // The narrower parameters do not borrow from each other or from the wider one.
  assert.deepEqual(await ids('/Patient?family=zoe'), []);
  assert.deepEqual(await ids(`/Patient?given=${family}`), []);
  assert.deepEqual(await ids(`/Patient?address-city=12%20can&family=${family}`), []);
  assert.deepEqual(await ids(`/Patient?address-postalcode=spring&family=${family}`), []);
  assert.deepEqual(await ids(`/Patient?address-state:missing=false&family=${family}`), []);
});

test('protected tokens: system|code, code, |code, system|, :not, :missing, :of-type, reference :identifier', async () => {
  assert.deepEqual(await ids(`/Patient?identifier=urn:mrn%7C${mrn}`), [id]);
  assert.deepEqual(await ids(`/Patient?identifier=${mrn}`), [id, other].sort());
  assert.deepEqual(await ids(`/Patient?identifier=%7C${mrn}`), []);
  assert.ok((await ids('/Patient?identifier=urn:mrn%7C')).includes(id));
  assert.deepEqual(await ids(`/Patient?family=${family}&identifier:not=urn:mrn%7C${mrn}`), [other]);
  assert.deepEqual(await ids(`/Patient?family=${family}&telecom:missing=true`), [other]);
  assert.deepEqual(await ids(`/Patient?phone=${encodeURIComponent(phone)}`), [id]);
  assert.deepEqual(await ids(`/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203%7CMR%7C${mrn}`), [id]);
  assert.equal((await ids(`/Observation?subject:identifier=urn:mrn%7C${mrn}`)).length, 1);
  assert.equal((await ids(`/Observation?subject:Patient.family=${family.slice(0, 6)}`)).length, 1);
  assert.equal((await ids(`/Patient?_has:Observation:subject:subject:identifier=${mrn}`)).length, 1);
});

test('what a blind index cannot answer is refused with SEARCH_PROTECTED_PARAM', async () => {
  for (const q of [`family:contains=${tag}`, 'identifier:text=medical', '_sort=family', 'identifier:in=http://example.org/vs', 'identifier:below=urn:mrn%7C1']) {
    const res = await s.fhir(`/Patient?${q}`);
    assert.equal(res.status, 400, q);
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.equal(res.body.issue[0].details.coding[0].code, 'SEARCH_PROTECTED_PARAM', q);
  }
  // Unprotected parameters keep every modifier.
  assert.equal((await s.fhir('/Observation?code:text=x')).status, 200);
  assert.equal((await s.fhir('/Organization?name:contains=x&_sort=name')).status, 200);
});

test('index rows of protected parameters hold tags only, no plaintext', async () => {
  const q = (sql: string) => s.testDb.db.query<Record<string, unknown>>(sql).then((r) => r.rows);
  const strings = await q(`SELECT param, value_norm, value_exact, blind FROM idx_string WHERE resource_id = '${id}'`);
  const protectedStrings = strings.filter((r) => ['family', 'given', 'name', 'address', 'address-city', 'phonetic'].includes(String(r['param'])));
  assert.ok(protectedStrings.length > 10);
  for (const r of protectedStrings) {
    assert.equal(r['value_norm'], null);
    assert.equal(r['value_exact'], null);
    assert.equal((r['blind'] as Buffer).length, 16);
  }
  const tokens = await q(`SELECT param, system, code, text_norm, blind FROM idx_token WHERE resource_id = '${id}' AND param IN ('identifier', 'telecom', 'phone')`);
  assert.ok(tokens.length >= 3);
  for (const r of tokens) assert.deepEqual([r['code'], r['text_norm'], (r['blind'] as Buffer).length], [null, null, 16]);
  const refs = await q(`SELECT identifier_value, identifier_system, blind FROM idx_reference WHERE param = 'subject' AND identifier_system = 'urn:mrn'`);
  assert.equal(refs.length, 1);
  assert.equal(refs[0]!['identifier_value'], null);
  const all = await q('SELECT t::text AS row FROM idx_string t UNION ALL SELECT t::text FROM idx_token t UNION ALL SELECT t::text FROM idx_reference t');
  const text = all.map((r) => String(r['row'])).join('\n').toLowerCase();
  for (const needle of [family, mrn, phone, 'springfield', 'canary lane', 'zoe']) assert.ok(!text.includes(needle.toLowerCase()), needle);
});

test('rows written before blind indexing (plaintext) are not searched, and $reindex turns them into tags', async () => {
  const db = s.testDb.db;
  const legacy = `Legacyfam${tag}`;
  const created = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: legacy }] } });
  const pid = created.body.id as string;
  // What migration 014 leaves behind: the family row as PR 007 wrote it, plaintext and no tag.
  await db.query(`DELETE FROM idx_string WHERE resource_id = $1 AND param = 'family'`, [pid]);
  await db.query(`INSERT INTO idx_string (tenant_id, resource_type, resource_id, param, value_norm, value_exact) VALUES ('default', 'Patient', $1, 'family', lower($2), $2)`, [pid, legacy]);
  assert.deepEqual(await ids(`/Patient?family=${legacy}`), []);
  const start = await s.fhir('/Patient/$reindex', { method: 'POST' });
  assert.equal(start.status, 202, JSON.stringify(start.body));
  const location = String(start.headers.get('content-location'));
  const path = location.slice(location.indexOf('/fhir') + 5);
  const deadline = Date.now() + 30_000;
  while ((await s.fhir(path)).status !== 200) {
    assert.ok(Date.now() < deadline, 'reindex did not finish');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(await ids(`/Patient?family=${legacy}`), [pid]);
  const left = await db.query(`SELECT 1 FROM idx_string WHERE resource_id = $1 AND (value_norm IS NOT NULL OR value_exact IS NOT NULL) AND param = 'family'`, [pid]);
  assert.equal(left.rows.length, 0);
});

test('bulk export _typeFilter on a protected parameter matches by tag, and refuses what tags cannot do', async () => {
  const token = await s.token();
  const k = await kickoff(s.fhirUrl, token, `$export?_type=Patient&_typeFilter=${encodeURIComponent(`Patient?family=${family}son`)}`);
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const manifest = await waitForManifest(k.headers.get('content-location')!, token, 60_000);
  assert.deepEqual(manifest.output.map((o) => [o.type, o.count]), [['Patient', 1]]);
  const refused = await kickoff(s.fhirUrl, token, `$export?_type=Patient&_typeFilter=${encodeURIComponent('Patient?family:contains=x')}`);
  assert.equal(refused.status, 400);
  assert.match(JSON.stringify(refused.body), /SEARCH_PROTECTED_PARAM/);
});
