/**
 * Micro-benchmark of search-value extraction (the ingest hot path).
 * Run: npx tsc -p . && node dist/bench/extract.js [--slow]
 * Prints µs per resource over the HL7 R4 examples of the synthetic mix.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { corePackageDir } from '../src/fhir/core-package.js';
import { createFhirDefinitions } from '../src/fhir/index.js';
import { createIndexer } from '../src/fhir/extract.js';

const MIX = ['Patient', 'Encounter', 'Observation', 'Condition', 'MedicationRequest', 'Procedure', 'Immunization'];

function loadExamples(): object[] {
  const dir = corePackageDir();
  const out: object[] = [];
  for (const name of readdirSync(dir)) {
    const type = name.split('-')[0] ?? '';
    if (!MIX.includes(type) || !name.endsWith('.json')) continue;
    const r = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')) as { resourceType?: string };
    if (r.resourceType === type) out.push(r);
  }
  return out;
}

function main(): void {
  const t0 = performance.now();
  const fhir = createFhirDefinitions();
  const loadMs = performance.now() - t0;
  const slow = process.argv.includes('--slow');
  const indexer = slow ? createIndexer(fhir.registry, { fastPath: false }) : fhir.indexer;
  const examples = loadExamples();
  let values = 0;
  for (const r of examples) values += indexer.extract(r).length; // warm-up + compile
  const rounds = slow ? 20 : 300;
  const start = performance.now();
  for (let i = 0; i < rounds; i++) for (const r of examples) indexer.extract(r);
  const us = ((performance.now() - start) * 1000) / (rounds * examples.length);
  console.log(
    `definitions: ${loadMs.toFixed(0)} ms; ${examples.length} examples (${MIX.join(', ')}); ` +
      `${(values / examples.length).toFixed(1)} index values/resource; ` +
      `extract (${slow ? 'fhirpath.js only' : 'fast path'}): ${us.toFixed(1)} µs/resource`,
  );
}

main();
