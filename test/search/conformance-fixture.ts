import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { createFhirDefinitions, normalizeString, readCoreResources } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { compileContainedSearch, compileSearch, parseSearch } from '../../src/search/index.js';
import type { ContainedMatchRow, ContainedType, SearchRow } from '../../src/search/index.js';
import { createIndexWriter } from '../../src/store/index-writer.js';
import { indexedWithContained } from '../../src/store/contained.js';
import type { FhirResource } from '../../src/store/model.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';
import { edgeCases } from './conformance-data.js';

/**
 * The conformance suite's data: HL7's official R4 examples (npm
 * hl7.fhir.r4.examples@4.0.1) of the types below, plus conformance-data.ts,
 * indexed by the real extraction (src/fhir) and index writer, in a fresh
 * database on whichever PostgreSQL TEST_DATABASE_URL names.
 */
const exampleTypes = ['Patient', 'Observation', 'Practitioner', 'Organization', 'Encounter', 'List', 'Group', 'Location', 'Device'];

/** HL7 ValueSets the suite uses with :in (loading all 1,316 would only slow the suite). */
const valueSetIds = new Set(['observation-category']);

export function examplesDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
}

export interface Conformance {
  fhir: FhirDefinitions;
  t: TestDb;
  /** Sorted ids matching `query` on `type` (all pages). */
  ids(type: string, query: string): Promise<string[]>;
  /**
   * `_contained=true|both` (`mode`): sorted `Type/id` of the matches returned as containers, or
   * `Type/id#local` for contained ones returned alone (`as`), stored matches as `Type/id`.
   */
  contained(type: string, query: string, mode: 'true' | 'both', as: ContainedType): Promise<string[]>;
  /** The loaded resources, to compute expected sets independently of the index. */
  resources: readonly Record<string, unknown>[];
  close(): Promise<void>;
}

function load(): Record<string, unknown>[] {
  const dir = examplesDir();
  const out: Record<string, unknown>[] = [];
  for (const type of exampleTypes) out.push(...readCoreResources(type, dir));
  out.push(...readCoreResources('ValueSet', dir).filter((vs) => valueSetIds.has(String(vs['id']))));
  return [...out, ...edgeCases];
}

export async function openConformance(): Promise<Conformance> {
  const fhir = createFhirDefinitions();
  const t = await createTestDb();
  const writer = createIndexWriter({ normalize: normalizeString });
  const resources = load();
  await t.db.transaction(async (tx) => {
    for (const r of resources) {
      const [type, id] = [String(r['resourceType']), String(r['id'])];
      await tx.query(`INSERT INTO resource VALUES ('default', $1, $2, 1, now(), false, NULL)`, [type, id]);
      // As the store's write path indexes them: contained resources too (migration 042).
      const own = indexedWithContained(type, id, r as FhirResource, (x) => fhir.indexer.extract(x));
      await writer.insert(tx, 'default', own.indexed);
      for (const c of own.contained) await tx.query(`INSERT INTO contained_resource VALUES ('default', $1, $2, $3, $4, $5)`, c);
    }
  });
  // Fresh tables have no statistics; production has autovacuum's. Without them the planner guesses one row per scan.
  await t.db.query('ANALYZE');
  return {
    fhir,
    t,
    async ids(type, query) {
      // The coverage report (coverage-report.ts) reads every query the suite runs from this file.
      const log = process.env['SEARCH_COVERAGE_FILE'];
      if (log) appendFileSync(log, `${JSON.stringify({ type, query })}\n`);
      const q = parseSearch(type, [...new URLSearchParams(query)], fhir.registry, { strict: true, maxCount: 1000 });
      const { sql, params } = compileSearch({ ...q, count: 1000 }, 'default');
      return (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id).sort();
    },
    async contained(type, query, mode, as) {
      const log = process.env['SEARCH_COVERAGE_FILE'];
      if (log) appendFileSync(log, `${JSON.stringify({ type, query: `${query}&_contained=${mode}&_containedType=${as}` })}\n`);
      const q = parseSearch(type, [...new URLSearchParams(query)], fhir.registry, { strict: true, maxCount: 1000 });
      const { sql, params } = compileContainedSearch({ ...q, count: 1000 }, 'default', { mode, as, containerTypes: null });
      const rows = (await t.db.query<ContainedMatchRow>(sql, params)).rows;
      return rows.map((r) => `${r.container_type}/${r.container_id}${r.local_id === null ? '' : `#${r.local_id}`}`).sort();
    },
    resources,
    close: () => t.drop(),
  };
}
