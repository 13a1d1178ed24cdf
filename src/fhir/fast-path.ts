import r4model from 'fhirpath/fhir-context/r4';
import { splitUnion } from './expression-split.js';
import { compileFhirPath, type Evaluator } from './fhirpath-eval.js';
import { referenceTargetType } from './reference.js';
import type { TypedValue } from './to-index-values.js';

/**
 * Most search expressions are plain paths (`Patient.name.family`,
 * `(Observation.value as Quantity)`, `Condition.subject.where(resolve() is
 * Patient)`). Walking the JSON directly is ~20× faster than fhirpath.js; the
 * element types come from the same R4 model fhirpath.js uses. Anything
 * outside this small grammar returns null and goes to fhirpath.js. A test
 * checks both give the same index values on every HL7 example.
 */

type Filter = { kind: 'refIs'; type: string } | { kind: 'eq'; key: string; value: string };
type Op = { kind: 'child'; key: string } | Filter;
interface Branch { ops: Op[]; path: string; type: string }

const model = r4model as unknown as {
  path2Type: Record<string, string>;
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
  type2Parent: Record<string, string>;
};

const IDENT = /^[a-z][A-Za-z0-9]*$/;
const AS_CALL = /^(?:as|ofType)\(([A-Za-z]+)\)$/;
const REF_IS = /^where\(resolve\(\)\s+is\s+([A-Za-z]+)\)$/;
const WHERE_EQ = /^where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^'\\]*)'\)$/;
const PAREN_AS = /^\(([^()]+?)\s+as\s+([A-Za-z]+)\)(.*)$/;

function splitDots(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '.' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function isBackbone(type: string): boolean {
  return type === 'BackboneElement' || type === 'Element';
}

function normType(t: string): string {
  return t === 'System.String' ? 'string' : t;
}

function isA(type: string, wanted: string): boolean {
  for (let t: string | undefined = type; t; t = model.type2Parent[t]) {
    if (t.toLowerCase() === wanted.toLowerCase()) return true;
  }
  return false;
}

/** Children of one branch for element `name`, expanding choice elements. */
function childBranches(b: Branch, name: string): Branch[] | null {
  let path = `${isBackbone(b.type) || b.path === b.type ? b.path : b.type}.${name}`;
  path = model.pathsDefinedElsewhere[path] ?? path;
  const choices = model.choiceTypePaths[path];
  if (choices) {
    return choices.map((c) => {
      const type = normType(model.path2Type[path + c] ?? c);
      return { ops: [...b.ops, { kind: 'child', key: name + c }], path: path + c, type };
    });
  }
  const type = model.path2Type[path];
  if (!type || type === 'Resource') return null;
  return [{ ops: [...b.ops, { kind: 'child', key: name }], path, type: normType(type) }];
}

function applySegment(branches: Branch[], seg: string): Branch[] | null {
  if (IDENT.test(seg)) {
    const next: Branch[] = [];
    for (const b of branches) {
      const kids = childBranches(b, seg);
      if (!kids) return null;
      next.push(...kids);
    }
    return next;
  }
  const as = AS_CALL.exec(seg);
  if (as?.[1]) return branches.filter((b) => isA(b.type, as[1] as string));
  const ref = REF_IS.exec(seg);
  if (ref?.[1]) return branches.map((b) => ({ ...b, ops: [...b.ops, { kind: 'refIs', type: ref[1] as string }] }));
  const eq = WHERE_EQ.exec(seg);
  if (eq?.[1] !== undefined && eq[2] !== undefined) {
    const f: Filter = { kind: 'eq', key: eq[1], value: eq[2] };
    return branches.map((b) => ({ ...b, ops: [...b.ops, f] }));
  }
  return null;
}

function segmentsOf(part: string): string[] | null {
  const m = PAREN_AS.exec(part);
  if (!(m?.[1] && m[2])) return splitDots(part);
  const rest = (m[3] ?? '').trim();
  if (rest !== '' && !rest.startsWith('.')) return null;
  return [...splitDots(m[1].trim()), `as(${m[2]})`, ...(rest ? splitDots(rest.slice(1)) : [])];
}

function planSegments(segs: string[], start: Branch): Branch[] | null {
  let branches: Branch[] | null = [start];
  for (const seg of segs) {
    branches = applySegment(branches, seg.trim());
    if (!branches) return null;
  }
  return branches;
}

function planPart(part: string, resourceType: string): Branch[] | null {
  const segs = segmentsOf(part);
  if (!segs || segs[0] !== resourceType) return null;
  return planSegments(segs.slice(1), { ops: [], path: resourceType, type: resourceType });
}

function passes(f: Filter, item: unknown): boolean {
  if (f.kind === 'refIs') return referenceTargetType(item) === f.type;
  return typeof item === 'object' && item !== null && (item as Record<string, unknown>)[f.key] === f.value;
}

/** Appends what `ops[i..]` reaches from `node` (no intermediate arrays: most paths hold one or two items). */
function descend(ops: Op[], i: number, node: unknown, type: string, out: TypedValue[]): void {
  if (i === ops.length) {
    out.push({ data: node, type });
    return;
  }
  const op = ops[i]!;
  if (op.kind !== 'child') {
    if (passes(op, node)) descend(ops, i + 1, node, type, out);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const v = (node as Record<string, unknown>)[op.key];
  if (Array.isArray(v)) {
    for (const x of v) if (x !== null && x !== undefined) descend(ops, i + 1, x, type, out);
  } else if (v !== null && v !== undefined) descend(ops, i + 1, v, type, out);
}

function walk(branch: Branch, resource: object, out: TypedValue[]): void {
  descend(branch.ops, 0, resource, branch.type, out);
}

// `Patient.deceased.exists() and Patient.deceased != false`: the one official expression of the HL7 resources outside the path grammar.
const EXISTS_NOT_FALSE = /^(\S+)\.exists\(\)\s+and\s+(\S+)\s*!=\s*false$/;

/**
 * `P.exists() and P != false` where P names direct children of the resource
 * (a choice such as deceased[x]): false when absent, the boolean itself, true
 * for any other single value (a dateTime is never equal to false). Anything
 * else (several values, a primitive extension `_deceasedBoolean`) goes to
 * fhirpath.js, whose result is a plain boolean without a type.
 */
function compileExistsNotFalse(expression: string, resourceType: string): Evaluator | null {
  const m = EXISTS_NOT_FALSE.exec(expression.trim());
  if (!m?.[1] || m[1] !== m[2]) return null;
  const branches = planPart(m[1], resourceType);
  if (!branches || branches.length === 0 || !branches.every((b) => b.ops.length === 1 && b.ops[0]!.kind === 'child')) return null;
  const elements = branches.map((b) => {
    const key = (b.ops[0] as { key: string }).key;
    return { key, extension: `_${key}`, type: b.type };
  });
  let slow: Evaluator | undefined;
  return (resource) => {
    const r = resource as Record<string, unknown>;
    let found: unknown;
    let type = '';
    let count = 0;
    for (const e of elements) {
      // An extension on the primitive (`_deceasedBoolean`) or a repeated value: left to fhirpath.js.
      if (r[e.extension] !== undefined) count = 2;
      const v = r[e.key];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) count = 2;
      found = v;
      type = e.type;
      count++;
    }
    if (count === 0) return [{ data: false, type: '' }];
    if (count === 1 && type === 'boolean' && typeof found === 'boolean') return [{ data: found, type: '' }];
    if (count === 1 && (type === 'dateTime' || type === 'date') && typeof found === 'string') return [{ data: true, type: '' }];
    slow ??= compileFhirPath(expression);
    return slow(resource);
  };
}

/** A fast evaluator for `expression` on `resourceType`, or null if outside the grammar. */
export function compileFastPath(expression: string, resourceType: string): Evaluator | null {
  const special = compileExistsNotFalse(expression, resourceType);
  if (special) return special;
  const branches: Branch[] = [];
  for (const part of splitUnion(expression)) {
    const planned = planPart(part.trim(), resourceType);
    if (!planned) return null;
    branches.push(...planned);
  }
  return (resource) => {
    const out: TypedValue[] = [];
    for (const b of branches) walk(b, resource, out);
    return out;
  };
}

/**
 * A fast evaluator for `expression` relative to an element at `path` (e.g.
 * `value.as(Quantity)` on `Observation.component`), for composite components;
 * null if outside the grammar or the path is unknown to the model.
 */
export function compileFastPathAt(expression: string, path: string): Evaluator | null {
  const root = !path.includes('.');
  const type = root ? path : model.path2Type[model.pathsDefinedElsewhere[path] ?? path];
  if (!type) return null;
  const start: Branch = { ops: [], path: model.pathsDefinedElsewhere[path] ?? path, type: normType(type) };
  const branches: Branch[] = [];
  for (const part of splitUnion(expression)) {
    const segs = segmentsOf(part.trim());
    const planned = segs ? planSegments(segs, start) : null;
    if (!planned) return null;
    branches.push(...planned);
  }
  return (element) => {
    const out: TypedValue[] = [];
    for (const b of branches) walk(b, element, out);
    return out;
  };
}
