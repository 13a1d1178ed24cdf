import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, scanErrorCodes, scanSources } from './error-codes.js';

// Keeps docs/errors.md and the codes thrown in src/ in step (STYLE rule 3), as Fastify does for FST_ERR_*.

const root = repoRoot();
const catalogue = readFileSync(join(root, 'docs/errors.md'), 'utf8');
const httpErrors = readFileSync(join(root, 'src/http/errors.ts'), 'utf8');

interface Row {
  code: string;
  category: string;
  status: number;
  line: number;
}

/** Table rows whose first cell is a back-quoted code: `| \`CODE\` | category | status | meaning |`. */
function documentedRows(markdown: string): Row[] {
  const rows: Row[] = [];
  markdown.split('\n').forEach((text, i) => {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*`?([a-z-]+)`?\s*\|\s*(\d{3})\s*\|/.exec(text);
    if (m) rows.push({ code: m[1]!, category: m[2]!, status: Number(m[3]), line: i + 1 });
  });
  return rows;
}

/** `name: 400` pairs inside `const <name>: Record<…> = { … };` in src/http/errors.ts. */
function statusTable(name: string): Map<string, number> {
  const block = new RegExp(String.raw`const ${name}\b[^=]*=\s*\{([\s\S]*?)\};`).exec(httpErrors);
  assert.ok(block, `src/http/errors.ts no longer declares ${name}; update this test`);
  const out = new Map<string, number>();
  for (const m of block[1]!.matchAll(/'?([\w-]+)'?\s*:\s*(\d{3})/g)) out.set(m[1]!, Number(m[2]));
  return out;
}

test('the scanner reads every HavenError construction in src/', () => {
  const scan = scanErrorCodes(root);
  assert.ok(scan.codes.size > 0, 'no codes found: is the repository root right?');
  assert.deepEqual(scan.unrecognised, [], `teach test/kernel/error-codes.ts these patterns:\n${scan.unrecognised.join('\n')}`);
});

test('docs/errors.md lists exactly the codes thrown in src/, with their categories', () => {
  const scan = scanErrorCodes(root);
  const rows = documentedRows(catalogue);
  const documented = new Map<string, Set<string>>();
  const problems: string[] = [];
  for (const row of rows) {
    const cats = documented.get(row.code) ?? new Set<string>();
    if (cats.has(row.category)) problems.push(`documented twice: ${row.code} (${row.category}), docs/errors.md:${row.line}`);
    documented.set(row.code, cats.add(row.category));
  }
  for (const [code, categories] of scan.codes) {
    const where = scan.sites.get(code)!.join(', ');
    const docCats = documented.get(code);
    if (!docCats) {
      problems.push(`missing from docs/errors.md: ${code} (${[...categories].join(', ')}) thrown at ${where}`);
      continue;
    }
    for (const c of categories) if (!docCats.has(c)) problems.push(`${code}: thrown as '${c}' (${where}) but documented as '${[...docCats].join("', '")}'`);
    for (const c of docCats) if (!categories.has(c)) problems.push(`${code}: documented as '${c}' but thrown only as '${[...categories].join("', '")}' (${where})`);
  }
  for (const row of rows) {
    if (!scan.codes.has(row.code)) problems.push(`documented but no longer in src/: ${row.code}, docs/errors.md:${row.line}`);
  }
  assert.deepEqual(problems, [], `docs/errors.md is out of step with src/:\n  ${problems.join('\n  ')}`);
});

test('docs/errors.md gives the HTTP status src/http/errors.ts answers with', () => {
  const statusOf = statusTable('statusOf');
  const override = statusTable('statusOverride');
  const problems: string[] = [];
  for (const row of documentedRows(catalogue)) {
    const expected = override.get(row.code) ?? statusOf.get(row.category);
    if (expected === undefined) problems.push(`${row.code}: unknown category '${row.category}', docs/errors.md:${row.line}`);
    else if (expected !== row.status) problems.push(`${row.code}: documented ${row.status}, answered ${expected}, docs/errors.md:${row.line}`);
  }
  for (const [category, status] of statusOf) {
    if (!new RegExp(String.raw`^\|\s*\`${category}\`\s*\|\s*${status}\s*\|`, 'm').test(catalogue)) {
      problems.push(`category table: '${category}' → ${status} missing or wrong`);
    }
  }
  assert.deepEqual(problems, [], `statuses in docs/errors.md are wrong:\n  ${problems.join('\n  ')}`);
});

test('docs/errors.md names the code system src/http/errors.ts sends', () => {
  const system = /system:\s*'([^']+)'/.exec(httpErrors)?.[1];
  assert.ok(system, 'no code system found in src/http/errors.ts');
  assert.ok(catalogue.includes(system), `docs/errors.md should name ${system}`);
});

test('the scanner follows literal, helper, table and rethrow constructions', () => {
  const scan = scanSources([
    {
      path: 'src/a.ts',
      text: [
        '/** e.g. new HavenError(\'incorrect\', \'IN_A_COMMENT\', …) */',
        "throw new HavenError(\n  'incorrect',\n  'LITERAL_CODE',\n  'm');",
        "function tokenError(code: Code, message: string) { return new HavenError('unauthenticated', code, message); }",
        "tokenError('HELPER_ONE', 'x'); tokenError( 'HELPER_TWO', 'y');",
        "const table = { a: { code: 'TABLE_CODE', category: 'incorrect' }, b: { category: 'forbidden', code: 'TABLE_TWO' } };",
        'function build(category: C, code: string) { return new HavenError(category, code, "m"); }',
        'function wrap(err: HavenError) { return new HavenError(err.category, err.code, err.message); }',
      ].join('\n'),
    },
    { path: 'src/b.ts', text: "function f(msg: string, code: string) { return new HavenError('fault', code, msg); }" },
  ]);
  const codes = Object.fromEntries([...scan.codes].map(([k, v]) => [k, [...v]]));
  assert.deepEqual(codes, {
    LITERAL_CODE: ['incorrect'],
    HELPER_ONE: ['unauthenticated'],
    HELPER_TWO: ['unauthenticated'],
    TABLE_CODE: ['incorrect'],
    TABLE_TWO: ['forbidden'],
  });
  assert.deepEqual(scan.sites.get('LITERAL_CODE'), ['src/a.ts:2']);
  assert.equal(scan.unrecognised.length, 1);
  assert.match(scan.unrecognised[0]!, /^src\/b\.ts:1: code comes from 'code'/);
});
