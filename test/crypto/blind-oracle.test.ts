import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createFhirDefinitions, normalizeString, readCoreResources } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { taggerFor, type BlindIndexer } from '../../src/crypto/index.js';
import { blindQuery, compileSearch, parseProtectedParams, parseSearch, type SearchRow } from '../../src/search/index.js';
import { createIndexWriter } from '../../src/store/index-writer.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * Blind-indexed search gives the same answers as plaintext search where it
 * answers at all: HL7's R4 example Patients indexed once with blind indexes,
 * once in plaintext (two tenants of one database), searched with the same
 * queries; both compared with an independent JavaScript reading.
 */
interface Example {
  resourceType: string;
  id: string;
  name?: { family?: string; given?: string[] }[];
  identifier?: { system?: string; value?: string }[];
}

let fhir: FhirDefinitions;
let t: TestDb;
const key = randomBytes(32);
const policy = parseProtectedParams('default');
const indexer: BlindIndexer = { withTagger: async (_tenant, use) => use(taggerFor(key)) };
const patients: Example[] = [];

before(async () => {
  fhir = createFhirDefinitions();
  t = await createTestDb();
  patients.push(...readCoreResources<Example>('Patient'));
  const blind = createIndexWriter({ normalize: normalizeString, blind: { indexer, policy, normalize: normalizeString } });
  const plain = createIndexWriter({ normalize: normalizeString });
  await t.db.transaction(async (tx) => {
    for (const r of patients) {
      const values = fhir.indexer.extract(r as never);
      for (const tenant of ['blind', 'plain']) await tx.query(`INSERT INTO resource VALUES ($1, 'Patient', $2, 1, now(), false, NULL)`, [tenant, r.id]);
      await blind.insert(tx, 'blind', [{ resourceType: 'Patient', id: r.id, values }]);
      await plain.insert(tx, 'plain', [{ resourceType: 'Patient', id: r.id, values }]);
    }
  });
});
after(() => t?.drop());

async function search(tenant: 'blind' | 'plain', query: string): Promise<string[]> {
  let q = parseSearch('Patient', [...new URLSearchParams(query)], fhir.registry, { strict: true, maxCount: 1000, normalize: normalizeString });
  if (tenant === 'blind') q = blindQuery(q, policy, taggerFor(key));
  const { sql, params } = compileSearch({ ...q, count: 1000 }, tenant);
  return (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id).sort();
}

const oracle = (keep: (r: Example) => boolean) => patients.filter(keep).map((r) => r.id).sort();
const starts = (value: string | undefined, prefix: string) => normalizeString(value ?? '').startsWith(normalizeString(prefix));
/** Blind semantics: starts-with for 3 to 16 characters, whole-value equality otherwise (docs/security/encryption.md). */
const blindStarts = (value: string | undefined, prefix: string) => {
  const p = normalizeString(prefix);
  return p.length >= 3 && p.length <= 16 ? starts(value, prefix) : normalizeString(value ?? '') === p;
};

test('family and given: starts-with (3+ characters), case and accents folded, equal to plaintext and to the oracle', async () => {
  for (const prefix of ['c', 'ch', 'cha', 'Chalmers', 'don', 'VAN', 'x', 'Windsor', 'peter', 'Jim', 'Pe']) {
    const family = (match: typeof starts) => oracle((r) => (r.name ?? []).some((n) => match(n.family, prefix)));
    assert.deepEqual(await search('blind', `family=${prefix}`), family(blindStarts), `family=${prefix}`);
    assert.deepEqual(await search('plain', `family=${prefix}`), family(starts), `plain family=${prefix}`);
    const given = oracle((r) => (r.name ?? []).some((n) => (n.given ?? []).some((g) => blindStarts(g, prefix))));
    assert.deepEqual(await search('blind', `given=${prefix}`), given, `given=${prefix}`);
  }
  // Where the semantics differ, they differ only below three characters.
  assert.ok((await search('plain', 'family=c')).length > (await search('blind', 'family=c')).length);
});

test('identifier: value and system|value equal to plaintext and to the oracle', async () => {
  const ids = patients.flatMap((r) => r.identifier ?? []).filter((i) => i.value).slice(0, 8);
  assert.ok(ids.length >= 3);
  for (const i of ids) {
    const expected = oracle((r) => (r.identifier ?? []).some((x) => x.value === i.value && x.system === i.system));
    const q = `identifier=${encodeURIComponent(`${i.system ?? ''}|${i.value}`)}`;
    assert.deepEqual(await search('blind', q), expected, q);
    assert.deepEqual(await search('plain', q), expected, q);
    assert.deepEqual(await search('blind', `identifier=${encodeURIComponent(i.value!)}`), await search('plain', `identifier=${encodeURIComponent(i.value!)}`));
  }
});

test('the blind tenant holds no plaintext name or identifier in its index rows', async () => {
  // The columns that would hold a value in clear. Not the whole row: its tags (hex) and generated ids
  // are random hex, where an all-digit needle such as the identifier 12345 turns up by chance.
  const rows = await t.db.query<{ r: string }>(
    "SELECT concat_ws(' ', value_norm, value_exact) AS r FROM idx_string WHERE tenant_id = 'blind' UNION ALL SELECT concat_ws(' ', system, code, text_norm) FROM idx_token WHERE tenant_id = 'blind'",
  );
  const text = rows.rows.map((r) => r.r).join('\n').toLowerCase();
  const needles = patients.flatMap((r) => [...(r.name ?? []).map((n) => n.family), ...(r.identifier ?? []).map((i) => i.value)]).filter((s): s is string => !!s && s.length >= 5);
  assert.ok(needles.length > 5);
  for (const n of needles) assert.ok(!text.includes(n.toLowerCase()), n);
});
