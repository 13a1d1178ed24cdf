import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createFhirDefinitions, normalizeString, readCoreResources, type FhirDefinitions } from '../../src/fhir/index.js';
import { blindTag, taggerFor, type BlindIndexer, type BlindTagger } from '../../src/crypto/index.js';
import { blindQuery, compileSearch, parseProtectedParams, parseSearch, type ProtectedParams, type SearchRow } from '../../src/search/index.js';
import { createIndexWriter, type IndexedResource } from '../../src/store/index-writer.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * Issue 8 cut the CPU of planning blind index rows (tag memo without joined
 * keys, hex digest cut as a string, an ASCII fast path in normalizeString,
 * the protected-parameter list split by type). Stored rows must not change
 * by one byte, or rows written before stop matching searches after. The
 * functions as they were before are kept here as the reference.
 */

const SCHEME = 'haven-bi1';
function referenceTagger(key: Buffer): BlindTagger {
  const memo = new Map<string, string>();
  return (form, domain, value) => {
    const id = `${form}\u0000${domain}\u0000${value}`;
    let t = memo.get(id);
    if (t === undefined) {
      const mac = createHmac('sha256', key).update(`${SCHEME}\u0000${id}`).digest();
      memo.set(id, (t = `\\x${mac.subarray(0, 16).toString('hex')}`));
    }
    return t;
  };
}

function referenceNormalize(s: string): string {
  const folds: Record<string, string> = { ł: 'l', ø: 'o', đ: 'd', ħ: 'h', ŧ: 't', ß: 'ss', æ: 'ae', œ: 'oe', ı: 'i', þ: 'th', ð: 'd' };
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g, '')
    .toLowerCase()
    .replace(new RegExp(`[${Object.keys(folds).join('')}]`, 'g'), (c) => folds[c] ?? c)
    .replace(/\s+/g, ' ')
    .trim();
}

function referencePolicy(entries: readonly string[]): ProtectedParams {
  const set = new Set(entries);
  return {
    isProtected(resourceType, code) {
      const base = code.endsWith(':of-type') ? code.slice(0, -':of-type'.length) : code;
      return set.has(base) || set.has(`${resourceType}.${base}`);
    },
    entries: () => [...set],
  };
}

const key = Buffer.alloc(32, 7);
const indexerOf = (tagger: (k: Buffer) => BlindTagger): BlindIndexer => ({ withTagger: async (_tenant, use) => use(tagger(key)) });

/** Names with tabs, double spaces, accents, folded letters, astral characters; identifiers, telecom, addresses, references by identifier. */
const handmade: Record<string, unknown>[] = [
  {
    resourceType: 'Patient', id: 'odd',
    identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'MRN-12345' }, { value: '  spaced  id ' }],
    name: [{ family: 'Núñez  de\tLeón', given: ['José', 'ANNA  Maria', 'Łukasz'] }, { text: 'Ærøskøbing Straße 😀 東京', family: 'Ab' }],
    telecom: [{ system: 'phone', value: '+1 (555) 010-0000' }, { system: 'email', value: 'Ann.O\'Brien@Example.org' }],
    address: [{ line: ['1 Main St'], city: 'São Paulo', postalCode: '01000-000', state: 'SP', country: 'BR' }],
  },
  {
    resourceType: 'RelatedPerson', id: 'rp', patient: { reference: 'Patient/odd' },
    identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'MRN-12345' }],
    name: [{ family: 'Núñez  de\tLeón', given: ['Maria'] }], telecom: [{ system: 'phone', value: '+1 (555) 010-0000' }],
  },
  {
    resourceType: 'Encounter', id: 'enc', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
    identifier: [{ system: 'urn:visit', value: 'V-77' }], subject: { identifier: { system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'MRN-12345' } },
  },
  {
    resourceType: 'Observation', id: 'obs', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart  Rate' },
    identifier: [{ system: 'urn:obs', value: 'O-1' }], subject: { reference: 'Patient/odd', identifier: { value: 'MRN-12345' } },
  },
];

let fhir: FhirDefinitions;
let resources: IndexedResource[];
let t: TestDb;

before(async () => {
  fhir = createFhirDefinitions();
  const all = [...handmade, ...readCoreResources('Patient'), ...readCoreResources('RelatedPerson'), ...readCoreResources('Encounter').slice(0, 10)];
  resources = all.map((r) => ({ resourceType: r.resourceType as string, id: r.id as string, values: fhir.indexer.extract(r as never) }));
  t = await createTestDb();
});
after(() => t?.drop());

test('the tag of a fixed key and value is the one computed before the change', () => {
  assert.equal(blindTag(key, 'exact', 'name', 'José Ñúñez'), '\\x10f06dda6cc08e49ea5e7ed498b8dd22');
  assert.equal(blindTag(key, 'prefix', 'name', 'jos'), '\\x02cd5ba95eb8eec4d3bd0b604e44fc7f');
  assert.equal(taggerFor(key)('code', 'identifier', 'urn:oid:1.2.36.146.595.217.0.1|12345'), '\\x9bffa03f99573e3153a0a53d57ba798c');
});

test('normalizeString gives the reference result, ASCII fast path and full path alike', () => {
  const samples = ['', ' ', 'Anna', '  Anna\tMARIA  Łukasz  ', 'a  b   c', ' lead', 'trail ', 'MRN-12345', '+1 (555) 010-0000', 'x\u00a0y', 'José', 'ß', 'tab\there', 'new\nline', '~!@#$%^&*()_+{}|:"<>?`-=[]\\;\',./'];
  // Every printable ASCII character alone, and pseudo-random printable ASCII strings heavy in spaces and capitals.
  for (let c = 0x20; c <= 0x7e; c++) samples.push(String.fromCharCode(c), ` ${String.fromCharCode(c)}  Z `);
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) samples.push(Array.from({ length: next() % 24 }, () => (next() % 4 === 0 ? ' ' : String.fromCharCode(0x20 + (next() % 95)))).join(''));
  for (const s of samples) assert.equal(normalizeString(s), referenceNormalize(s), JSON.stringify(s));
});

test('isProtected answers as the reference for every type and code asked', () => {
  for (const spec of ['default', 'default,Practitioner.name,Organization.name', 'identifier,name', 'none']) {
    const mine = parseProtectedParams(spec);
    const ref = referencePolicy(mine.entries());
    for (const type of ['Patient', 'Person', 'RelatedPerson', 'Practitioner', 'Organization', 'Encounter', 'Observation', 'Coverage', 'Device']) {
      for (const code of ['name', 'family', 'given', 'phonetic', 'telecom', 'phone', 'email', 'address', 'address-city', 'address-postalcode', 'address-state', 'address-country', 'identifier', 'identifier:of-type', 'subscriber-id', 'udi-carrier', 'code', 'birthdate', 'name:of-type', 'component-code-value-quantity$0']) {
        assert.equal(mine.isProtected(type, code), ref.isProtected(type, code), `${spec}: ${type}.${code}`);
      }
    }
  }
});

test('planned index rows are byte-identical to those of the reference functions', async () => {
  const policy = parseProtectedParams('default');
  const current = createIndexWriter({ normalize: normalizeString, blind: { policy, normalize: normalizeString, indexer: indexerOf(taggerFor) } });
  const reference = createIndexWriter({
    normalize: referenceNormalize,
    blind: { policy: referencePolicy(policy.entries()), normalize: referenceNormalize, indexer: indexerOf(referenceTagger) },
  });
  const owners = resources.slice(0, 3).map((r) => ({ resourceType: r.resourceType, id: r.id }));
  const mine = await current.plan('t1', resources, owners);
  assert.deepEqual(mine, await reference.plan('t1', resources, owners));
  assert.ok(mine.params.some((p) => typeof p === 'string' && p.includes('\\\\x')), 'blind rows planned');
  // Each resource alone too: the memo then starts empty for each.
  for (const r of resources) assert.deepEqual(await current.plan('t1', [r], []), await reference.plan('t1', [r], []));
});

test('rows written by the plan are found by a search on protected parameters', async () => {
  const policy = parseProtectedParams('default');
  const writer = createIndexWriter({ normalize: normalizeString, blind: { policy, normalize: normalizeString, indexer: indexerOf(taggerFor) } });
  const index = await writer.plan('blind', resources, []);
  await t.db.transaction(async (tx) => {
    for (const r of resources) await tx.query(`INSERT INTO resource VALUES ('blind', $1, $2, 1, now(), false, NULL)`, [r.resourceType, r.id]);
    await tx.query(`WITH ${index.entries.join(', ')} SELECT 1`, index.params);
  });
  const search = async (type: string, query: string) => {
    const q = parseSearch(type, [...new URLSearchParams(query)], fhir.registry, { strict: true, maxCount: 1000, normalize: normalizeString });
    const { sql, params } = compileSearch({ ...blindQuery(q, policy, taggerFor(key)), count: 1000 }, 'blind');
    return (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id).sort();
  };
  assert.deepEqual(await search('Patient', 'family=nunez'), ['odd']);
  assert.deepEqual(await search('Patient', 'name=NÚÑEZ DE LEÓN'), ['odd']);
  assert.deepEqual(await search('Patient', 'given=lukasz'), ['odd']);
  assert.deepEqual(await search('Patient', 'given:exact=ANNA  Maria'), ['odd']);
  assert.deepEqual(await search('Patient', 'address-city=sao'), ['odd']);
  assert.deepEqual(await search('Patient', `email=${encodeURIComponent("Ann.O'Brien@Example.org")}`), ['odd']);
  assert.deepEqual(await search('Patient', 'identifier=urn:oid:1.2.36.146.595.217.0.1|MRN-12345'), ['odd']);
  assert.deepEqual(await search('RelatedPerson', 'identifier=MRN-12345'), ['rp']);
  assert.deepEqual(await search('Encounter', 'identifier=urn:visit|V-77'), ['enc']);
  assert.deepEqual(await search('Encounter', 'subject:identifier=urn:oid:1.2.36.146.595.217.0.1|MRN-12345'), ['enc']);
  assert.deepEqual(await search('Observation', 'subject:identifier=MRN-12345'), ['obs']);
});
