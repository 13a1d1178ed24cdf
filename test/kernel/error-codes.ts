import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds every stable HavenError code in the source tree, so the catalogue in
 * docs/errors.md can be checked against it. Reads `src/**\/*.ts` (not dist) as
 * text: the codes are string literals, and the patterns Haven uses are few.
 *
 * Recognised constructions:
 * - literal:  `new HavenError('incorrect', 'SEARCH_UNKNOWN_PARAM', …)` (any whitespace, multi-line);
 * - helper:   `function tokenError(code: …) { return new HavenError('unauthenticated', code, …) }`,
 *             with the codes taken from the calls `tokenError('AUTH_TOKEN_MISSING', …)`;
 * - table:    `new HavenError(category, code, …)` fed from object literals
 *             `{ code: 'OAUTH_INVALID_CLIENT', category: 'unauthenticated' }` in the same file;
 * - rethrow:  `new HavenError(err.category, err.code, …)` keeps an existing code (nothing new).
 * Anything else is reported in `unrecognised`, so a new pattern cannot hide codes.
 */

export interface SourceFile {
  /** Path relative to the repository root, e.g. src/http/app.ts. */
  path: string;
  text: string;
}

export interface ErrorCodeScan {
  /** code → categories it is thrown with. */
  codes: Map<string, Set<string>>;
  /** code → `file:line` of each place it is introduced. */
  sites: Map<string, string[]>;
  /** `file:line: snippet` of HavenError constructions the scanner could not read. */
  unrecognised: string[];
}

/** The repository root, from the compiled location dist/test/kernel/. */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../../', import.meta.url));
}

export function readSourceFiles(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        out.push({ path: relative(root, full).split('\\').join('/'), text: readFileSync(full, 'utf8') });
      }
    }
  };
  walk(join(root, 'src'));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

export function scanErrorCodes(root: string = repoRoot()): ErrorCodeScan {
  return scanSources(readSourceFiles(root));
}

const CODE = String.raw`[A-Z][A-Z0-9_]*`;
const ARG = String.raw`(?:'([^']*)'|"([^"]*)"|([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?))`;
const construction = new RegExp(String.raw`new\s+HavenError\s*\(\s*${ARG}\s*,\s*${ARG}`, 'g');

export function scanSources(files: SourceFile[]): ErrorCodeScan {
  const scan: ErrorCodeScan = { codes: new Map(), sites: new Map(), unrecognised: [] };
  const prepared = files.map((f) => ({ ...f, text: blankComments(f.text) }));
  for (const file of prepared) {
    for (const m of file.text.matchAll(construction)) {
      const category = m[1] ?? m[2];
      const code = m[4] ?? m[5];
      const catIdent = m[3];
      const codeIdent = m[6];
      const site = `${file.path}:${lineOf(file.text, m.index)}`;
      if (category !== undefined && code !== undefined) {
        if (new RegExp(`^${CODE}$`).test(code)) add(scan, code, category, site);
        else scan.unrecognised.push(`${site}: code ${JSON.stringify(code)} is not UPPER_SNAKE_CASE`);
      } else if (category !== undefined && codeIdent !== undefined) {
        scanHelper(scan, prepared, file, m.index, category, codeIdent, site);
      } else if (catIdent !== undefined && codeIdent !== undefined) {
        if (isRethrow(catIdent, codeIdent)) continue;
        scanTable(scan, file, site);
      } else {
        scan.unrecognised.push(`${site}: ${m[0].replace(/\s+/g, ' ')}`);
      }
    }
    for (const m of file.text.matchAll(/\bextends\s+HavenError\b/g)) {
      scan.unrecognised.push(`${file.path}:${lineOf(file.text, m.index)}: subclass of HavenError`);
    }
  }
  return scan;
}

function add(scan: ErrorCodeScan, code: string, category: string, site: string): void {
  let categories = scan.codes.get(code);
  if (!categories) scan.codes.set(code, (categories = new Set()));
  categories.add(category);
  scan.sites.set(code, [...(scan.sites.get(code) ?? []), site]);
}

/** `err.category, err.code`: re-wrapping an error that already carries its code. */
function isRethrow(catIdent: string, codeIdent: string): boolean {
  const [catObj, catProp] = catIdent.split('.');
  const [codeObj, codeProp] = codeIdent.split('.');
  return catProp === 'category' && codeProp === 'code' && catObj === codeObj;
}

/**
 * A helper whose first parameter is the code: collect the literal codes passed
 * to it (in its own file, or anywhere when it is exported).
 */
function scanHelper(
  scan: ErrorCodeScan,
  files: SourceFile[],
  file: SourceFile,
  at: number,
  category: string,
  codeIdent: string,
  site: string,
): void {
  const fn = enclosingFunction(file.text, at);
  if (!fn || fn.params[0] !== codeIdent) {
    scan.unrecognised.push(`${site}: code comes from '${codeIdent}', which is not the first parameter of the enclosing function`);
    return;
  }
  const call = new RegExp(String.raw`\b${fn.name}\s*\(\s*['"](${CODE})['"]`, 'g');
  let found = 0;
  for (const other of fn.exported ? files : [file]) {
    for (const c of other.text.matchAll(call)) {
      add(scan, c[1]!, category, `${other.path}:${lineOf(other.text, c.index)}`);
      found++;
    }
  }
  if (found === 0) scan.unrecognised.push(`${site}: helper ${fn.name}() is never called with a literal code`);
}

interface FunctionHead {
  name: string;
  params: string[];
  exported: boolean;
}

/** The nearest `function name(params)` declared before `at`. */
function enclosingFunction(text: string, at: number): FunctionHead | undefined {
  const heads = [...text.slice(0, at).matchAll(/(export\s+)?(?:async\s+)?function\s+([\w$]+)\s*\(([^)]*)\)/g)];
  const last = heads.at(-1);
  if (!last) return undefined;
  const params = last[3]!
    .split(',')
    .map((p) => p.trim().replace(/^\.\.\./, '').split(/[?:=\s]/)[0]!)
    .filter((p) => p !== '');
  return { name: last[2]!, params, exported: last[1] !== undefined };
}

/** `new HavenError(category, code, …)` fed from a table of `{ code, category }` literals in the same file. */
function scanTable(scan: ErrorCodeScan, file: SourceFile, site: string): void {
  const codeFirst = new RegExp(String.raw`\{\s*code:\s*['"](${CODE})['"]\s*,\s*category:\s*['"]([a-z-]+)['"]`, 'g');
  const categoryFirst = new RegExp(String.raw`\{\s*category:\s*['"]([a-z-]+)['"]\s*,\s*code:\s*['"](${CODE})['"]`, 'g');
  let found = 0;
  for (const m of file.text.matchAll(codeFirst)) {
    add(scan, m[1]!, m[2]!, `${file.path}:${lineOf(file.text, m.index)}`);
    found++;
  }
  for (const m of file.text.matchAll(categoryFirst)) {
    add(scan, m[2]!, m[1]!, `${file.path}:${lineOf(file.text, m.index)}`);
    found++;
  }
  if (found === 0) scan.unrecognised.push(`${site}: category and code are variables, and no { code, category } table is in the file`);
}

/**
 * Blank out comments (keeping line breaks, so line numbers hold) so examples in
 * doc comments are not counted. Only comments that start a line are removed:
 * enough for this codebase, and it cannot eat string contents such as URLs.
 */
function blankComments(text: string): string {
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  return text.replace(/^[ \t]*\/\*[\s\S]*?\*\//gm, blank).replace(/^[ \t]*\/\/.*$/gm, blank);
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
