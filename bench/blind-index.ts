/**
 * Blind-index cost per resource (docs/security/encryption.md, "Blind indexes"):
 * the index rows of a typical Patient built with and without HMAC tags, on
 * the real extraction and the real index-writer code, without a database.
 * With TEST_DATABASE_URL set, also the real inserts into a throwaway database.
 * Run: node dist/bench/blind-index.js  (prints JSON; under 30 s).
 */
import { randomBytes } from 'node:crypto';
import { createFhirDefinitions, normalizeString } from '../src/fhir/index.js';
import { blindTag, taggerFor, type BlindIndexer } from '../src/crypto/index.js';
import { parseProtectedParams } from '../src/search/index.js';
import { createIndexWriter, type IndexedResource } from '../src/store/index-writer.js';
import type { Queryable } from '../src/store/index.js';
import { createTestDb } from '../test/support/db.js';

const template = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [
    { system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } },
    { system: 'http://hl7.org/fhir/sid/us-ssn', value: '999-12-3456' },
  ],
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'] }, { use: 'usual', given: ['Jim'] }],
  telecom: [{ system: 'phone', value: '(03) 5555 6473', use: 'work' }, { system: 'email', value: 'jim.chalmers@example.org' }],
  gender: 'male',
  birthDate: '1974-12-25',
  address: [{ use: 'home', line: ['534 Erewhon St'], city: 'PleasantVille', state: 'Vic', postalCode: '3999' }],
};

/** Counts rows and statements instead of sending them. */
function sink() {
  let rows = 0;
  const tx = {
    query: async (_sql: string, params?: unknown[]) => {
      rows += (JSON.parse(String(params?.[1] ?? '[]')) as unknown[]).length;
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  return { tx, rows: () => rows };
}

async function perResource(writer: ReturnType<typeof createIndexWriter>, resources: IndexedResource[], rounds: number) {
  const s = sink();
  await writer.insert(s.tx, 't', resources); // warm-up, and the row count
  const noop = { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as Queryable;
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await writer.insert(noop, 't', resources);
  const us = Number(process.hrtime.bigint() - start) / 1000 / (rounds * resources.length);
  return { usPerResource: Math.round(us * 100) / 100, rowsPerResource: s.rows() / resources.length };
}

async function main() {
  const fhir = createFhirDefinitions();
  // 100 different Patients (names, identifiers, phones, streets differ), so memoized tags only repeat within one.
  const resources: IndexedResource[] = Array.from({ length: 100 }, (_, i) => {
    const text = JSON.stringify(template).replace(/Chalmers|Peter|James|Jim|Erewhon|12345|3456|6473/g, (m) => `${m}${i}`);
    return { resourceType: 'Patient', id: `p${i}`, values: fhir.indexer.extract(JSON.parse(text) as never) };
  });
  const values = resources[0]!.values;
  const key = randomBytes(32);
  const indexer: BlindIndexer = { withTagger: async (_t, use) => use(taggerFor(key)) };
  const policy = parseProtectedParams('default');
  const plain = createIndexWriter({ normalize: normalizeString });
  const blind = createIndexWriter({ normalize: normalizeString, blind: { indexer, policy, normalize: normalizeString } });
  const rounds = 50;
  const a = await perResource(plain, resources, rounds);
  const b = await perResource(blind, resources, rounds);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) taggerFor(key)('prefix', 'name', `chalmers${i}`);
  const hmacUs = Number(process.hrtime.bigint() - t0) / 1000 / 100_000;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) blindTag(key, 'prefix', 'name', `chalmers${i}`);
  const createHmacUs = Number(process.hrtime.bigint() - t1) / 1000 / 100_000;
  const db = process.env['TEST_DATABASE_URL'] ? await withDatabase(resources, plain, blind) : undefined;
  console.log(JSON.stringify({ plaintext: a, blind: b, ...(db ? { database: db } : {}), createHmacUs: Math.round(createHmacUs * 100) / 100, hmacUs: Math.round(hmacUs * 100) / 100, extractedValues: values.length }, null, 2));
}

/** µs per resource to insert the index rows of 100 Patients per transaction, alternating modes, best of 5. */
async function withDatabase(resources: IndexedResource[], plain: Writer, blind: Writer) {
  const t = await createTestDb();
  const best = { plaintext: Infinity, blind: Infinity };
  try {
    for (let round = 0; round < 5; round++) {
      for (const [mode, writer] of [['plaintext', plain], ['blind', blind]] as const) {
        const batch = resources.map((r) => ({ ...r, id: `${r.id}-${mode}-${round}` }));
        const start = process.hrtime.bigint();
        await t.db.transaction((tx) => writer.insert(tx, 't', batch));
        best[mode] = Math.min(best[mode], Number(process.hrtime.bigint() - start) / 1000 / batch.length);
      }
    }
  } finally {
    await t.drop();
  }
  return { plaintextUsPerResource: Math.round(best.plaintext), blindUsPerResource: Math.round(best.blind) };
}

type Writer = ReturnType<typeof createIndexWriter>;

await main();
