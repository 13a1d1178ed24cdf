/**
 * The exact issues the FHIR validator reports for every example of the core
 * package and for seeded mutants of each, as one digest: run it against two
 * builds to show a performance change to validation altered no verdict, no
 * message and no issue order (issue 8).
 *   node dist/bench/fhir-validation-digest.js [--root <build dir>] [--mutants 6]
 * Mutants change one random object of the resource: a key deleted, a `_key`
 * added (object or invalid), a key moved after its new `_key`, two choices of
 * one element, an unknown key, a null, an empty array, a key re-inserted
 * last, or every key dropped. A validator exception is part of the digest.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { positiveArg, stringArg } from './options.js';

type Obj = Record<string, unknown>;
const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(stringArg('root') ?? resolve(here, '../..'));
const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(resolve(root, 'dist', rel)).href)) as T;
const { createValidator } = await load<{ createValidator: () => { validate(r: unknown): unknown[] } }>('src/fhir/validation/index.js');
const { loadExamples } = await load<{ loadExamples: () => { name: string; resource: Obj }[] }>('test/fhir/validation/example-files.js');
const mutants = positiveArg('mutants', 6);

let seed = 12345;
const rnd = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
function objects(x: unknown, out: Obj[]): Obj[] {
  if (Array.isArray(x)) for (const y of x) objects(y, out);
  else if (x !== null && typeof x === 'object') {
    out.push(x as Obj);
    for (const v of Object.values(x)) objects(v, out);
  }
  return out;
}
function mutate(r: Obj): Obj {
  const c = structuredClone(r);
  const all = objects(c, []);
  const o = all[rnd(all.length)]!;
  const keys = Object.keys(o);
  const k = keys.length > 0 ? keys[rnd(keys.length)]! : 'x';
  const base = k.replace(/[A-Z].*$/, '');
  switch (rnd(9)) {
    case 0: Reflect.deleteProperty(o, k); break;
    case 1: o[`_${k}`] = rnd(2) === 1 ? { id: 'e1' } : 'bad'; break;
    case 2: { const v = o[k]; Reflect.deleteProperty(o, k); o[`_${k}`] = { extension: [{ url: 'http://x', valueString: 'y' }] }; o[k] = v; break; }
    case 3: o[`${base}String`] = 'dup'; o[`${base}Boolean`] = true; break;
    case 4: o.unknownThing = 1; break;
    case 5: o[k] = null; break;
    case 6: o[k] = []; break;
    case 7: { const v = o[k]; Reflect.deleteProperty(o, k); o[k] = v; break; }
    default: for (const kk of keys) if (kk !== 'resourceType') Reflect.deleteProperty(o, kk);
  }
  return c;
}

const validator = createValidator();
const digest = createHash('sha256');
let resources = 0;
let issues = 0;
let exceptions = 0;
for (const example of loadExamples()) {
  const list = [example.resource];
  for (let i = 0; i < mutants; i++) list.push(mutate(example.resource));
  for (const r of list) {
    let found: unknown[];
    try {
      found = validator.validate(r);
    } catch (e) {
      found = [`exception ${String(e)}`];
      exceptions++;
    }
    resources++;
    issues += found.length;
    digest.update(JSON.stringify(found)).update('\n');
  }
}
console.log(JSON.stringify({ root, resources, issues, exceptions, sha256: digest.digest('hex') }));
