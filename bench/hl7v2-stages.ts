/**
 * Node CPU of the HL7 v2 ingest stages that need no database, per message,
 * in one process: parse, convert (the real templates), validate every
 * resource of the Bundle, extract its search-index values. The figures the
 * end-to-end bench (hl7v2-mllp.ts) cannot separate under a loaded machine.
 *   node dist/bench/hl7v2-stages.js [--rounds 300]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseMessage } from '../src/hl7v2/index.js';
import { createHl7Converter } from '../src/hl7v2/convert/index.js';
import { createValidator } from '../src/fhir/validation/index.js';
import { createFhirDefinitions } from '../src/fhir/index.js';
import { normalizeString } from '../src/fhir/index.js';
import { createIndexWriter, type IndexedResource } from '../src/store/index-writer.js';
import { taggerFor } from '../src/crypto/blind-index.js';
import { parseProtectedParams } from '../src/search/index.js';
import { positiveArg } from './options.js';

const SAMPLES = ['ADT-A01-01.hl7', 'ADT-A04-01.hl7', 'ADT-A08-01.hl7', 'ADT-A28-01.hl7', 'ADT-A31-01.hl7', 'ORU-R01-01.hl7'];
const dir = resolve(process.cwd(), '../shared/data/hl7v2-fhir-converter/messages');
const texts = SAMPLES.map((f) => readFileSync(resolve(dir, f), 'latin1').split(/\r\n|\r|\n/).filter((l) => l.length > 0).join('\r'));
const rounds = positiveArg('rounds', 300);

const converter = createHl7Converter();
const validator = createValidator();
const fhir = createFhirDefinitions();
// The default blind-index policy with a fixed key: what an encrypted deployment writes per resource.
const key = Buffer.alloc(32, 7);
const indexWriter = createIndexWriter({
  normalize: normalizeString,
  blind: { policy: parseProtectedParams('default'), normalize: normalizeString, indexer: { withTagger: async (_t, use) => use(taggerFor(key)) } },
});

type Resource = { resourceType: string } & Record<string, unknown>;
const totals = { parse: 0, convert: 0, validate: 0, extract: 0, indexRows: 0 };
/** CPU microseconds of this process (wall time means little on a loaded machine). */
const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
let resources = 0;
let indexValues = 0;
async function once(measure: boolean): Promise<void> {
  for (const text of texts) {
    let t = cpu();
    const message = parseMessage(text);
    let n = cpu();
    if (measure) totals.parse += n - t;
    t = n;
    const result = converter.convert({ message, messageId: 'm-1', sender: 'APP^FAC', receivedAt: new Date() });
    n = cpu();
    if (measure) totals.convert += n - t;
    const list = (result.bundle.entry as { resource?: Resource }[]).flatMap((e) => (e.resource ? [e.resource] : []));
    t = cpu();
    for (const r of list) validator.validate(r);
    n = cpu();
    if (measure) totals.validate += n - t;
    t = n;
    const fresh: IndexedResource[] = [];
    for (const [i, r] of list.entries()) {
      const values = fhir.indexer.extract(r as never);
      fresh.push({ resourceType: r.resourceType, id: `r${i}`, values });
      if (measure) indexValues += values.length;
    }
    n = cpu();
    if (measure) {
      totals.extract += n - t;
      resources += list.length;
    }
    t = n;
    await indexWriter.plan('t1', fresh, []);
    if (measure) totals.indexRows += cpu() - t;
  }
}
for (let i = 0; i < 30; i++) await once(false);
for (let i = 0; i < rounds; i++) await once(true);
const messages = rounds * texts.length;
const perMessage = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.round(v / messages)]));
console.log(JSON.stringify({ messages, resourcesPerMessage: resources / messages, indexValuesPerMessage: indexValues / messages, microsPerMessage: perMessage }, null, 2));
