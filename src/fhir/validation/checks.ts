import type { Issue } from '../../kernel/errors.js';
import type { InvariantScope } from './invariants.js';
import type { ElementModel, TypeModel, TypeRef } from './model.js';
import { parseReference } from './references.js';
import type { CodeSet } from './terminology.js';

/** What the walker needs from the rest of the validator. */
export interface Services {
  model(type: string): TypeModel | undefined;
  codes(valueSet: string): CodeSet | undefined;
}

type Obj = Record<string, unknown>;

function error(issues: Issue[], code: Issue['code'], diagnostics: string, expr: string, details?: string): void {
  issues.push({ severity: 'error', code, diagnostics, expression: [expr], ...(details ? { details } : {}) });
}

function isResourceType(svc: Services, type: string): boolean {
  const m = svc.model(type);
  return m !== undefined && m.kind === 'resource' && !m.isProfile && !m.abstract;
}

function containedIds(root: unknown): string[] {
  const contained = (root as Obj | undefined)?.contained;
  return Array.isArray(contained) ? contained.map((c) => (c as Obj | null)?.id).filter((id) => typeof id === 'string') : [];
}

/** Reference.reference format, ref-1 (local targets exist) and the element's allowed target types. */
export function checkReference(svc: Services, ref: Obj, type: TypeRef, scope: InvariantScope, expr: string, issues: Issue[]): void {
  const reference = ref.reference;
  if (typeof reference !== 'string') return;
  const at = `${expr}.reference`;
  const parsed = parseReference(reference);
  switch (parsed.kind) {
    case 'invalid':
      return error(issues, 'value', `Invalid reference '${reference}'`, at);
    case 'local': {
      const insideContained = scope.resource !== scope.rootResource;
      if (parsed.id === '' ? insideContained : containedIds(scope.rootResource).includes(parsed.id)) return;
      return error(issues, 'invariant', `Constraint ref-1 failed: local reference '${reference}' does not resolve to a contained resource`, at, 'ref-1');
    }
    case 'relative':
    case 'conditional':
      if (!isResourceType(svc, parsed.type)) return error(issues, 'value', `Unknown resource type in reference '${reference}'`, at);
      if (type.targets && !type.targets.has(parsed.type)) {
        return error(issues, 'value', `Reference to ${parsed.type} is not allowed here (allowed: ${[...type.targets].join(', ')})`, at);
      }
      return;
    case 'absolute':
    case 'urn':
      return;
  }
}

function codingIn(set: CodeSet, coding: Obj): boolean | undefined {
  if (typeof coding.system !== 'string' || typeof coding.code !== 'string') return undefined;
  return set.pairs.has(`${coding.system}|${coding.code}`);
}

/** The value set's URL without its version, for messages (built only when one is reported). */
function vsName(valueSet: string): string {
  return valueSet.split('|')[0] ?? '';
}

/** Required bindings on code, Coding and CodeableConcept (when the value set is expandable). */
export function checkBinding(svc: Services, el: ElementModel, type: string, value: unknown, expr: string, issues: Issue[]): void {
  if (el.binding?.strength !== 'required') return;
  const set = svc.codes(el.binding.valueSet);
  if (!set) return;
  if (type === 'code') {
    if (typeof value === 'string' && !set.codes.has(value)) {
      error(issues, 'code-invalid', `Code '${value}' is not in the required value set ${vsName(el.binding.valueSet)}`, expr);
    }
  } else if (type === 'Coding') {
    if (codingIn(set, value as Obj) === false) {
      const c = value as Obj;
      error(issues, 'code-invalid', `Code '${String(c.system)}|${String(c.code)}' is not in the required value set ${vsName(el.binding.valueSet)}`, expr);
    }
  } else if (type === 'CodeableConcept') {
    const codings = (value as Obj).coding;
    if (!Array.isArray(codings)) return;
    // Codings without system/code cannot be judged; the concept passes if any judged coding is in the set.
    let judged = false;
    let anyIn = false;
    for (const c of codings) {
      const inSet = codingIn(set, c as Obj);
      if (inSet !== undefined) judged = true;
      if (inSet === true) anyIn = true;
    }
    if (judged && !anyIn) error(issues, 'code-invalid', `None of the codings is in the required value set ${vsName(el.binding.valueSet)}`, expr);
  }
}

/** ext-1: an extension has either nested extensions or a value, not both. */
export function checkExtension(ext: Obj, expr: string, issues: Issue[]): void {
  const hasExtensions = Array.isArray(ext.extension) && ext.extension.length > 0;
  const hasValue = Object.keys(ext).some((k) => k.startsWith('value') || k.startsWith('_value'));
  if (hasExtensions === hasValue) {
    error(issues, 'invariant', 'Constraint ext-1 failed: Must have either extensions or value[x], not both', expr, 'ext-1');
  }
}

function collectStrings(value: unknown, out: Set<string>): void {
  if (typeof value === 'string') {
    if (value.startsWith('#')) out.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectStrings(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) collectStrings(v, out);
  }
}

/** dom-2..dom-5: rules on contained resources of a DomainResource. */
export function checkContained(resource: Obj, expr: string, issues: Issue[]): void {
  const contained = resource.contained;
  if (!Array.isArray(contained) || contained.length === 0) return;
  // dom-3 looks for '#id' in any reference, canonical or uri of the whole resource (contained ones included).
  const localRefs = new Set<string>();
  collectStrings(resource, localRefs);
  contained.forEach((raw, i) => {
    const c = raw as Obj | null;
    if (c === null || typeof c !== 'object') return;
    const at = `${expr}.contained[${i}]`;
    const meta = (c.meta ?? {}) as Obj;
    if (c.contained !== undefined) error(issues, 'invariant', 'Constraint dom-2 failed: a contained resource SHALL NOT contain nested resources', at, 'dom-2');
    if (meta.versionId !== undefined || meta.lastUpdated !== undefined) {
      error(issues, 'invariant', 'Constraint dom-4 failed: a contained resource SHALL NOT have meta.versionId or meta.lastUpdated', at, 'dom-4');
    }
    if (meta.security !== undefined) error(issues, 'invariant', 'Constraint dom-5 failed: a contained resource SHALL NOT have a security label', at, 'dom-5');
    const ownRefs = new Set<string>();
    collectStrings(c, ownRefs);
    if (!localRefs.has(`#${String(c.id)}`) && !ownRefs.has('#')) {
      error(issues, 'invariant', 'Constraint dom-3 failed: the contained resource is not referenced from elsewhere in the resource and does not refer to the container', at, 'dom-3');
    }
  });
}
