/**
 * The exact output of the HL7 v2 conversion and of search-value extraction
 * on every sample message, as one digest: run it against two builds to show a
 * performance change altered nothing (issue 8).
 *   node dist/bench/hl7v2-output-digest.js [--root <build dir>] [--out <file>]
 * `--root`: a checkout whose `dist/` to load (default: this build), e.g. a
 * build of the base commit. `--out`: also write the canonical JSON per message.
 * Each message gives its Bundle (keys in their own order, so order changes
 * show), warnings, patient identifiers, merge, and the index values of every
 * resource, with and without the extraction fast path, and the index ROWS the
 * index writer plans for them (statement entries and parameters): plain, and
 * with the default blind-index policy under a fixed key, as a fresh write and
 * as an update of the same resources.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringArg } from './options.js';

type Resource = { resourceType: string } & Record<string, unknown>;
interface Converter {
  convert(input: { message: unknown; messageId: string; sender: string; receivedAt: Date }): {
    bundle: { entry: { resource?: Resource }[] };
    warnings: string[];
    patientIdentifiers: string[];
    merge?: unknown;
  };
}
interface Indexer {
  extract(resource: object): unknown[];
}
type Fresh = { resourceType: string; id: string; values: unknown[] }[];
interface IndexWriter {
  plan(tenant: string, fresh: Fresh, owners: { resourceType: string; id: string }[]): Promise<unknown>;
}
type Tagger = (form: string, domain: string, value: string) => string;

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(stringArg('root') ?? resolve(here, '../..'));
const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(resolve(root, 'dist', rel)).href)) as T;

const { parseMessage } = await load<{ parseMessage: (text: string) => unknown }>('src/hl7v2/index.js');
const { createHl7Converter } = await load<{ createHl7Converter: () => Converter }>('src/hl7v2/convert/index.js');
const { createFhirDefinitions } = await load<{ createFhirDefinitions: () => { registry: unknown; indexer: Indexer } }>('src/fhir/index.js');
const { createIndexer } = await load<{ createIndexer: (registry: unknown, options: { fastPath: boolean }) => Indexer }>('src/fhir/extract.js');

const { createIndexWriter } = await load<{ createIndexWriter: (options: object) => IndexWriter }>('src/store/index-writer.js');
const { normalizeString } = await load<{ normalizeString: (s: string) => string }>('src/fhir/normalize.js');
const { taggerFor } = await load<{ taggerFor: (key: Buffer) => Tagger }>('src/crypto/blind-index.js');
const { parseProtectedParams } = await load<{ parseProtectedParams: (spec: string) => unknown }>('src/search/index.js');
const plainWriter = createIndexWriter({ normalize: normalizeString });
const key = Buffer.alloc(32, 7);
const blindWriter = createIndexWriter({
  normalize: normalizeString,
  blind: { policy: parseProtectedParams('default'), normalize: normalizeString, indexer: { withTagger: async (_t: string, use: (tag: Tagger) => unknown) => use(taggerFor(key)) } },
});

const dir = resolve(process.cwd(), '../shared/data/hl7v2-fhir-converter/messages');
const converter = createHl7Converter();
const fhir = createFhirDefinitions();
const slow = createIndexer(fhir.registry, { fastPath: false });
const BOM = '\u00ef\u00bb\u00bf';

const lines: string[] = [];
const digest = createHash('sha256');
let resources = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.hl7')).sort()) {
  const raw = readFileSync(resolve(dir, file), 'latin1');
  const text = (raw.startsWith(BOM) ? raw.slice(BOM.length) : raw).split(/\r\n|\r|\n/).filter((l) => l.length > 0).join('\r');
  let record: unknown;
  try {
    const result = converter.convert({ message: parseMessage(text), messageId: `m-${file}`, sender: 'APP^FAC', receivedAt: new Date(Date.UTC(2026, 10, 29, 12)) });
    const list = result.bundle.entry.flatMap((e) => (e.resource ? [e.resource] : []));
    resources += list.length;
    const index = list.map((r) => fhir.indexer.extract(r));
    const fresh: Fresh = list.map((r, i) => ({ resourceType: r.resourceType, id: `r${i}`, values: index[i]! }));
    const owners = fresh.map((r) => ({ resourceType: r.resourceType, id: r.id }));
    const rows = [await plainWriter.plan('t1', fresh, []), await blindWriter.plan('t1', fresh, []), await blindWriter.plan('t1', fresh, owners)];
    record = { file, result, index, indexFhirPath: list.map((r) => slow.extract(r)), rows };
  } catch (e) {
    record = { file, error: (e as { code?: string }).code ?? String(e) };
  }
  const line = JSON.stringify(record);
  lines.push(line);
  digest.update(line).update('\n');
}
const out = stringArg('out');
if (out) writeFileSync(out, `${lines.join('\n')}\n`);
console.log(JSON.stringify({ root, messages: lines.length, resources, sha256: digest.digest('hex') }));
