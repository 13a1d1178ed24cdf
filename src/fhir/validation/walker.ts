import type { Issue } from '../../kernel/errors.js';
import { checkBinding, checkContained, checkExtension, checkReference, type Services } from './checks.js';
import type { InvariantScope, createInvariantEngine } from './invariants.js';
import type { ElementModel, TypeRef } from './model.js';
import { checkPrimitive } from './primitives.js';

type Obj = Record<string, unknown>;

export interface WalkServices extends Services {
  invariants: ReturnType<typeof createInvariantEngine>;
}

interface Walk {
  svc: WalkServices;
  issues: Issue[];
  scope: InvariantScope;
  /** Objects entered above this one, across contained resources and Bundle entries. */
  depth: number;
}

/**
 * Deeper than any real resource (nested extensions, Questionnaire items, Bundles in Bundles reach a
 * few dozen), shallow enough that neither this walk nor the FHIRPath and index walks after it can
 * exhaust the stack: 5,000 nested extensions overflowed it (a 500 instead of an issue).
 */
const MAX_ELEMENT_DEPTH = 128;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(w: Walk, code: Issue['code'], diagnostics: string, expr: string): void {
  w.issues.push({ severity: 'error', code, diagnostics, expression: [expr] });
}

/** Validates a resource (top-level, contained or in a Bundle entry) against its type's snapshot. */
export function walkResource(svc: WalkServices, issues: Issue[], value: unknown, expr: string, root?: unknown, depth = 0): void {
  const scope = { resource: value, rootResource: root ?? value };
  const w: Walk = { svc, issues, scope, depth };
  if (!isObject(value)) return fail(w, 'structure', 'A resource must be a JSON object', expr || 'Resource');
  const rt = value.resourceType;
  if (typeof rt !== 'string') return fail(w, 'required', 'Missing resourceType', expr || 'Resource');
  const model = svc.model(rt);
  if (!model || model.kind !== 'resource' || model.isProfile || model.abstract || model.type !== rt) {
    return fail(w, 'structure', `Unknown resourceType '${rt}'`, expr || rt);
  }
  const at = expr === '' ? rt : expr;
  if (depth >= MAX_ELEMENT_DEPTH) return fail(w, 'structure', `Elements nest deeper than ${MAX_ELEMENT_DEPTH} levels`, at);
  walkObject(w, value, model.root, at, true);
  if (model.root.constraints.some((c) => c.key === 'dom-2')) checkContained(value, at, issues);
  svc.invariants.check(model.root, value, w.scope, at, issues);
}

/**
 * The per-object bookkeeping (which names were walked, which choice was
 * taken, how often a required element occurs) is allocated only when an
 * object needs it: a converted HL7 message walks ~200 objects, most with
 * neither a `_name` key, a choice, nor a required child.
 */
function walkObject(w: Walk, obj: Obj, el: ElementModel, expr: string, isResource = false): void {
  const children = el.children;
  if (!children) return fail(w, 'structure', `Element has no defined children`, expr);
  if (w.depth >= MAX_ELEMENT_DEPTH) return fail(w, 'structure', `Elements nest deeper than ${MAX_ELEMENT_DEPTH} levels`, expr);
  w.depth++;
  try {
    walkChildren(w, obj, el, children, expr, isResource);
  } finally {
    w.depth--;
  }
}

function walkChildren(w: Walk, obj: Obj, el: ElementModel, children: NonNullable<ElementModel['children']>, expr: string, isResource: boolean): void {
  const keys = Object.keys(obj);
  // `name` and `_name` are one entry, walked once; without a `_` key every name is distinct.
  let handled: Set<string> | null = null;
  for (const key of keys) {
    if (key.charCodeAt(0) === 95) {
      handled = new Set();
      break;
    }
  }
  let choices: Map<ElementModel, string> | null = null;
  let counts: Map<ElementModel, number> | null = null;
  let content = false;
  for (const key of keys) {
    if (isResource && key === 'resourceType') continue;
    const name = key.startsWith('_') ? key.slice(1) : key;
    const entry = children.get(name);
    if (!entry || (key !== name && !entry.type.primitive)) {
      fail(w, 'structure', `Unknown element '${key}'`, `${expr}.${key}`);
      continue;
    }
    if (name !== 'id') content = true;
    if (handled) {
      if (handled.has(name)) continue;
      handled.add(name);
    }
    const element = entry.element;
    if (element.choice) {
      choices ??= new Map();
      const previous = choices.get(element);
      if (previous !== undefined) {
        fail(w, 'structure', `Only one of the choices for ${element.name}[x] is allowed (found ${previous} and ${name})`, `${expr}.${name}`);
      }
      choices.set(element, name);
    }
    const n = walkEntry(w, obj, name, element, entry.type, expr);
    if (element.min > 0) {
      counts ??= new Map();
      counts.set(element, (counts.get(element) ?? 0) + n);
    }
  }
  if (!isResource && !content) fail(w, 'invariant', 'Constraint ele-1 failed: All FHIR elements must have a @value or children', expr);
  for (const child of el.requiredChildren ?? []) {
    if ((counts?.get(child) ?? 0) < child.min) {
      fail(w, 'required', `Missing required element ${child.name}${child.choice ? '[x]' : ''} (min ${child.min})`, `${expr}.${child.name}`);
    }
  }
}

/** Validates obj[name] (and obj[_name]); returns how many occurrences it holds. */
function walkEntry(w: Walk, obj: Obj, name: string, el: ElementModel, type: TypeRef, expr: string): number {
  const value = obj[name];
  const ext = type.primitive ? obj[`_${name}`] : undefined;
  const at = el.choice ? `${expr}.${el.name}.ofType(${type.code})` : `${expr}.${name}`;
  if (!el.isArray) {
    if (Array.isArray(value) || Array.isArray(ext)) {
      fail(w, 'structure', `Element ${name} has max cardinality 1 and must not be an array`, at);
      return 1;
    }
    walkItem(w, value, ext, el, type, at);
    return 1;
  }
  if ((value !== undefined && !Array.isArray(value)) || (ext !== undefined && !Array.isArray(ext))) {
    fail(w, 'structure', `Element ${name} repeats and must be a JSON array`, at);
    return 1;
  }
  const values = (value ?? []) as unknown[];
  const exts = (ext ?? []) as unknown[];
  if (value !== undefined && ext !== undefined && values.length !== exts.length) {
    fail(w, 'structure', `Arrays ${name} and _${name} must have the same length`, at);
  }
  const count = Math.max(values.length, exts.length);
  if (count === 0) fail(w, 'structure', `Array ${name} must not be empty`, at);
  if (count > el.max) fail(w, 'structure', `Too many occurrences of ${name}: ${count} (max ${el.max})`, at);
  for (let i = 0; i < count; i++) walkItem(w, values[i], exts[i], el, type, `${at}[${i}]`);
  return count;
}

function walkPrimitive(w: Walk, value: unknown, ext: unknown, el: ElementModel, type: TypeRef, at: string): void {
  if (ext !== undefined && ext !== null) {
    if (!isObject(ext)) fail(w, 'structure', 'A primitive extension (_element) must be a JSON object', at);
    else {
      const element = w.svc.model('Element');
      if (element) walkObject(w, ext, element.root, at);
    }
  }
  if (value === undefined || value === null) {
    if (ext === undefined || ext === null) fail(w, 'structure', 'A primitive must have a value or an extension (null is not a value)', at);
    return;
  }
  const problem = checkPrimitive(type.code, value);
  if (problem) {
    const shape = problem.startsWith('must be a JSON');
    fail(w, shape ? 'structure' : 'value', `Value ${shape ? '' : `'${String(value)}' `}${problem}`, at);
    return;
  }
  if (type.code === 'code') checkBinding(w.svc, el, 'code', value, at, w.issues);
}

function walkItem(w: Walk, value: unknown, ext: unknown, el: ElementModel, type: TypeRef, at: string): void {
  if (type.primitive) return walkPrimitive(w, value, ext, el, type, at);
  if (!isObject(value)) return fail(w, 'structure', `Element must be a JSON object (type ${type.code})`, at);
  if (type.code === 'Resource' || el.holdsResource) {
    // Contained resources share the container's %rootResource; Bundle entries are roots of their own.
    const root = el.name === 'contained' ? w.scope.rootResource : undefined;
    return walkResource(w.svc, w.issues, value, at, root, w.depth);
  }
  if (el.children && (type.code === 'BackboneElement' || type.code === 'Element')) {
    walkObject(w, value, el, at);
  } else {
    const tm = w.svc.model(type.profile ?? type.code) ?? w.svc.model(type.code);
    if (!tm) return fail(w, 'structure', `Unknown type ${type.code}`, at);
    walkObject(w, value, tm.root, at);
    w.svc.invariants.check(tm.root, value, w.scope, at, w.issues);
    if (type.code === 'Reference') checkReference(w.svc, value, type, w.scope, at, w.issues);
    else if (type.code === 'Extension') checkExtension(value, at, w.issues);
    else if (type.code === 'Coding' || type.code === 'CodeableConcept') checkBinding(w.svc, el, type.code, value, at, w.issues);
  }
  w.svc.invariants.check(el, value, w.scope, at, w.issues);
}
