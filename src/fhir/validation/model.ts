import type { DefinitionSource, Json } from './definitions.js';
import { isPrimitive } from './primitives.js';

/** One type an element may take, e.g. `Reference` with its allowed targets. */
export interface TypeRef {
  /** FHIR type code, with System.* types mapped to their FHIR primitive. */
  code: string;
  /** Suffix of the JSON name for a choice element, e.g. `Quantity` in `valueQuantity`. */
  suffix: string;
  /** Profile whose snapshot replaces the type's own, e.g. SimpleQuantity. */
  profile?: string;
  /** Allowed reference target types; undefined = any. */
  targets?: Set<string>;
  /** `code` is a primitive type: the JSON may carry `_name` beside `name` (decided once, not per value). */
  primitive: boolean;
}

export interface ConstraintDef {
  key: string;
  human: string;
  expression: string;
}

/** An element of a snapshot, prepared for validation. */
export interface ElementModel {
  /** Snapshot path, e.g. `Patient.contact` (also the FHIRPath type base). */
  path: string;
  /** JSON name without `[x]`. */
  name: string;
  min: number;
  max: number;
  /** JSON shape follows the base max: arrays when the base allows more than one. */
  isArray: boolean;
  choice: boolean;
  types: TypeRef[];
  /** One of `types` is Resource (contained, Bundle.entry.resource): the value is walked as a resource. */
  holdsResource: boolean;
  binding?: { strength: string; valueSet: string };
  constraints: ConstraintDef[];
  /** Inline children (backbone elements, or the root of a type). */
  children?: ChildIndex;
  /** Distinct child elements, for cardinality checks. */
  childElements?: ElementModel[];
  /** The child elements with min > 0: the only ones a missing-element check can fail on. */
  requiredChildren?: ElementModel[];
  /** `#Questionnaire.item`-style reuse of another element's children. */
  contentReference?: string;
}

/** JSON key → element and the type that key selects. */
export type ChildIndex = Map<string, { element: ElementModel; type: TypeRef }>;

export interface TypeModel {
  type: string;
  kind: string;
  /** Abstract types (Resource, DomainResource, Element) cannot be instantiated. */
  abstract: boolean;
  /** Profiles (derivation = constraint) are usable as element types, not as resourceType. */
  isProfile: boolean;
  root: ElementModel;
}

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function typeCode(raw: Json, basePath: string): string {
  const code = String(raw.code);
  if (!code.startsWith('http://hl7.org/fhirpath/System.')) return code;
  // Resource.id is System.String in the snapshot but the spec types it as id.
  if (basePath === 'Resource.id') return 'id';
  const ext = (raw.extension as Json[] | undefined)?.find((e) => e.url === FHIR_TYPE_EXT);
  return typeof ext?.valueUrl === 'string' ? ext.valueUrl : 'string';
}

function toTypeRef(raw: Json, basePath: string): TypeRef {
  const code = typeCode(raw, basePath);
  const ref: TypeRef = { code, suffix: code.charAt(0).toUpperCase() + code.slice(1), primitive: isPrimitive(code) };
  const profile = (raw.profile as string[] | undefined)?.[0];
  if (profile) ref.profile = profile.slice(profile.lastIndexOf('/') + 1);
  const targets = raw.targetProfile as string[] | undefined;
  if (targets && targets.length > 0) {
    const names = targets.map((t) => t.slice(t.lastIndexOf('/') + 1));
    if (!names.includes('Resource')) ref.targets = new Set(names);
  }
  return ref;
}

function parseMax(max: unknown): number {
  return max === '*' || max === undefined ? Infinity : Number(max);
}

function toElement(raw: Json): ElementModel {
  const path = String(raw.path);
  const last = path.slice(path.lastIndexOf('.') + 1);
  const base = (raw.base as Json | undefined) ?? {};
  const basePath = typeof base.path === 'string' ? base.path : path;
  const choice = last.endsWith('[x]');
  const types = ((raw.type as Json[] | undefined) ?? []).map((t) => toTypeRef(t, basePath));
  const el: ElementModel = {
    path,
    name: choice ? last.slice(0, -3) : last,
    min: Number(raw.min ?? 0),
    max: parseMax(raw.max),
    isArray: parseMax(base.max ?? raw.max) > 1,
    choice,
    types,
    holdsResource: types.some((t) => t.code === 'Resource'),
    constraints: ((raw.constraint as Json[] | undefined) ?? [])
      .filter((c) => c.severity === 'error' && typeof c.expression === 'string')
      .map((c) => ({ key: String(c.key), human: String(c.human ?? ''), expression: String(c.expression) })),
  };
  const binding = raw.binding as Json | undefined;
  if (binding && typeof binding.valueSet === 'string') {
    el.binding = { strength: String(binding.strength), valueSet: binding.valueSet };
  }
  if (typeof raw.contentReference === 'string') el.contentReference = raw.contentReference.slice(1);
  return el;
}

function addChild(parent: ElementModel, child: ElementModel): void {
  parent.children ??= new Map();
  (parent.childElements ??= []).push(child);
  if (child.min > 0) (parent.requiredChildren ??= []).push(child);
  // contentReference elements carry no type; they are backbone elements.
  const types = child.types.length > 0 ? child.types : [{ code: 'BackboneElement', suffix: '', primitive: false }];
  for (const type of types) {
    const key = child.choice ? child.name + type.suffix : child.name;
    parent.children.set(key, { element: child, type });
  }
}

/** Builds the element tree of one snapshot. */
export function buildTypeModel(sd: Json): TypeModel {
  const snapshot = (sd.snapshot as Json | undefined)?.element as Json[] | undefined;
  if (!snapshot || snapshot.length === 0) throw new Error(`StructureDefinition ${String(sd.id)} has no snapshot`);
  const byPath = new Map<string, ElementModel>();
  for (const raw of snapshot) {
    const el = toElement(raw);
    byPath.set(el.path, el);
    const parent = byPath.get(el.path.slice(0, el.path.lastIndexOf('.')));
    if (parent) addChild(parent, el);
  }
  for (const el of byPath.values()) {
    if (el.contentReference) {
      const target = byPath.get(el.contentReference);
      if (target?.children) {
        el.children = target.children;
        el.childElements = target.childElements;
        el.requiredChildren = target.requiredChildren;
      }
    }
  }
  const root = byPath.get(String(snapshot[0]?.path));
  if (!root) throw new Error(`StructureDefinition ${String(sd.id)} has no root element`);
  return {
    type: String(sd.type),
    kind: String(sd.kind),
    abstract: sd.abstract === true,
    isProfile: sd.derivation === 'constraint',
    root,
  };
}

/** Lazily builds and caches one model per type name (or core profile id). */
export function createModelCache(defs: DefinitionSource): (type: string) => TypeModel | undefined {
  const cache = new Map<string, TypeModel | null>();
  return (type) => {
    let model = cache.get(type);
    if (model === undefined) {
      const sd = defs.structureDefinition(type);
      const usable = sd && sd.snapshot && (sd.kind === 'resource' || sd.kind === 'complex-type');
      model = usable ? buildTypeModel(sd) : null;
      cache.set(type, model);
    }
    return model ?? undefined;
  };
}
