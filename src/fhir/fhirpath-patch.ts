import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import { HavenError } from '../kernel/errors.js';
import { isPrimitive, type ChildIndex, type ElementModel, type TypeRef } from './validation/index.js';

/**
 * FHIRPath Patch (R4 fhirpatch.html): a Parameters resource whose `operation`
 * parameters add, insert, delete, replace or move elements that FHIRPath paths
 * select. fhirpath.js evaluates each path on the resource itself and hands back
 * nodes that know their parent, property name and list index, so an operation
 * edits the JSON in place; the element definitions decide lists, choice types
 * and whether a value's type fits. The caller validates the result as a write.
 *
 * Errors never quote a path or a value: both may hold PHI (`where(value='…')`).
 */

/** The child elements of a type or backbone path (Validator.elementsOf). */
export type ElementsOf = (typeOrPath: string) => ChildIndex | undefined;

type Json = Record<string, unknown>;
type OperationType = 'add' | 'insert' | 'delete' | 'replace' | 'move';

/** A value part: typed (`valueHumanName`, `resource`) or anonymous (nested parts, for backbone elements). */
interface PatchValue {
  type?: string;
  json?: unknown;
  parts?: Json[];
}

interface Operation {
  /** Position in Parameters.parameter, for messages and expressions. */
  at: number;
  type: OperationType;
  path: string;
  name?: string;
  value?: PatchValue;
  index?: number;
  source?: number;
  destination?: number;
}

/** What fhirpath.js returns with resolveInternalTypes off (its ResourceNode). */
interface PathNode {
  data: unknown;
  parentResNode: PathNode | null;
  path: string | null;
  propName: string | null;
  index: number | null;
  fhirNodeDataType: string | null;
}

/** Where a selected element lives: `holder[key]`, or `holder[key][index]` in a list. */
interface Slot {
  holder: Json;
  key: string;
  index: number | null;
  parent: PathNode;
}

const OPERATION_TYPES = new Set<string>(['add', 'insert', 'delete', 'replace', 'move']);
const PART_NAMES = new Set(['type', 'path', 'name', 'value', 'index', 'source', 'destination']);
/** Quantity and the types profiled on it are interchangeable as values. */
const QUANTITY_TYPES = new Set(['Quantity', 'Age', 'Count', 'Distance', 'Duration', 'SimpleQuantity', 'MoneyQuantity']);
const NUMBER_TYPES = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

function malformed(message: string, at?: number): HavenError {
  return new HavenError('incorrect', 'FHIRPATH_PATCH_MALFORMED', `FHIRPath Patch: ${message}`, {
    expression: [at === undefined ? 'Parameters' : `Parameters.parameter[${at}]`],
  });
}

function failed(op: Operation, message: string): HavenError {
  return new HavenError('unprocessable', 'PATCH_INVALID', `FHIRPath Patch operation ${op.at} (${op.type}) failed: ${message}`, {
    expression: [`Parameters.parameter[${op.at}]`],
  });
}

/** The value of a part: its one `value[x]`, its `resource`, or its nested parts. */
function valueOf(part: Json, at: number): PatchValue {
  const typed = Object.keys(part).filter((k) => /^value[A-Z]/.test(k));
  const present = typed.length + (part.resource !== undefined ? 1 : 0) + (part.part !== undefined ? 1 : 0);
  if (present !== 1) throw malformed('a value needs exactly one of value[x], resource or part', at);
  if (typed.length === 1) {
    const suffix = typed[0]!.slice('value'.length);
    const type = isPrimitive(lowerFirst(suffix)) ? lowerFirst(suffix) : suffix;
    return { type, json: part[typed[0]!] };
  }
  if (part.resource !== undefined) {
    if (!isObject(part.resource) || typeof part.resource.resourceType !== 'string') throw malformed('a resource value needs a resourceType', at);
    return { type: part.resource.resourceType, json: part.resource };
  }
  if (!Array.isArray(part.part) || !part.part.every(isObject)) throw malformed('nested parts must be a list of parts', at);
  return { parts: part.part };
}

function integerPart(part: Json, at: number): number {
  const v = part.valueInteger;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw malformed(`part ${String(part.name)} needs a valueInteger of 0 or more`, at);
  return v;
}

function stringPart(part: Json, key: 'valueCode' | 'valueString', at: number): string {
  const v = part[key];
  if (typeof v !== 'string' || v.trim() === '') throw malformed(`part ${String(part.name)} needs a ${key}`, at);
  return v;
}

function parseOperation(param: unknown, at: number): Operation {
  if (!isObject(param) || param.name !== 'operation') throw malformed('every parameter must be named "operation"', at);
  if (!Array.isArray(param.part)) throw malformed('an operation needs parts', at);
  const parts = new Map<string, Json>();
  for (const part of param.part as unknown[]) {
    if (!isObject(part) || typeof part.name !== 'string' || !PART_NAMES.has(part.name)) {
      throw malformed(`operation parts are ${[...PART_NAMES].join(', ')}`, at);
    }
    if (parts.has(part.name)) throw malformed(`part ${part.name} appears twice`, at);
    parts.set(part.name, part);
  }
  const typePart = parts.get('type');
  const type = typePart ? stringPart(typePart, 'valueCode', at) : '';
  if (!OPERATION_TYPES.has(type)) throw malformed('type must be add, insert, delete, replace or move', at);
  const pathPart = parts.get('path');
  if (!pathPart) throw malformed('an operation needs a path', at);
  const op: Operation = { at, type: type as OperationType, path: stringPart(pathPart, 'valueString', at) };
  const need: Record<OperationType, string[]> = {
    add: ['name', 'value'],
    insert: ['value', 'index'],
    delete: [],
    replace: ['value'],
    move: ['source', 'destination'],
  };
  for (const name of parts.keys()) {
    if (name !== 'type' && name !== 'path' && !need[op.type].includes(name)) throw malformed(`${op.type} takes no ${name} part`, at);
  }
  for (const name of need[op.type]) {
    const part = parts.get(name);
    if (!part) throw malformed(`${op.type} needs a ${name} part`, at);
    if (name === 'name') op.name = stringPart(part, 'valueString', at);
    else if (name === 'value') op.value = valueOf(part, at);
    else op[name as 'index' | 'source' | 'destination'] = integerPart(part, at);
  }
  return op;
}

/** The operations of a FHIRPath Patch document, or a 400 naming what is wrong. */
export function parseFhirPathPatch(body: unknown): Operation[] {
  if (!isObject(body) || body.resourceType !== 'Parameters') throw malformed('the body must be a Parameters resource');
  const params = body.parameter;
  if (!Array.isArray(params) || params.length === 0) throw malformed('Parameters holds no operation');
  return params.map((p, i) => parseOperation(p, i));
}

/** Applies a FHIRPath Patch to `resource` in place and returns it. */
export function applyFhirPathPatch(resource: Json, body: unknown, elementsOf: ElementsOf): Json {
  const ops = parseFhirPathPatch(body);
  const patcher = new Patcher(resource, elementsOf);
  for (const op of ops) patcher.apply(op);
  return resource;
}

class Patcher {
  constructor(
    private readonly resource: Json,
    private readonly elementsOf: ElementsOf,
  ) {}

  apply(op: Operation): void {
    if (op.type === 'add') this.add(op);
    else if (op.type === 'insert') this.insert(op);
    else if (op.type === 'delete') this.delete(op);
    else if (op.type === 'replace') this.replace(op);
    else this.move(op);
  }

  private select(op: Operation, path: string): PathNode[] {
    // The spec forbids crossing into other resources; only contained ones could be reached here anyway.
    if (/\bresolve\s*\(/.test(path)) throw failed(op, 'a path may not use resolve()');
    let result: unknown[];
    try {
      result = fhirpath.evaluate(this.resource, path, undefined, r4model, { resolveInternalTypes: false }) as unknown[];
    } catch {
      throw failed(op, 'the path is not a FHIRPath expression this server can evaluate');
    }
    return result.map((n) => {
      if (!isObject(n) || !('parentResNode' in n) || !('data' in n)) throw failed(op, 'the path selects a computed value, not an element of the resource');
      return n as unknown as PathNode;
    });
  }

  private single(op: Operation, path: string): PathNode {
    const nodes = this.select(op, path);
    if (nodes.length !== 1) throw failed(op, nodes.length === 0 ? 'the path selects no element' : `the path selects ${nodes.length} elements, not one`);
    return nodes[0]!;
  }

  /** The child elements of a selected node: its resource, backbone element or datatype. */
  private childrenOf(node: PathNode): ChildIndex | undefined {
    if (isObject(node.data) && typeof node.data.resourceType === 'string') return this.elementsOf(node.data.resourceType);
    const type = node.fhirNodeDataType;
    if ((type === 'BackboneElement' || type === 'Element') && node.path) return this.elementsOf(node.path);
    return type ? this.elementsOf(type) : undefined;
  }

  private slotOf(op: Operation, node: PathNode): Slot {
    const parent = node.parentResNode;
    if (!parent || !isObject(parent.data) || node.propName === null) throw failed(op, 'the path selects the resource itself');
    const holder = parent.data;
    let key = node.propName;
    // Choice elements come back under their base name (`value`); the JSON key carries the type.
    if (!Object.hasOwn(holder, key)) key += upperFirst(node.fhirNodeDataType ?? '');
    if (!Object.hasOwn(holder, key)) throw failed(op, 'the path selects an element the resource does not hold');
    const held = holder[key];
    const index = Array.isArray(held) ? node.index : null;
    if (Array.isArray(held) && (index === null || index >= held.length)) throw failed(op, 'the path selects an element the resource does not hold');
    const current = index === null ? held : (held as unknown[])[index];
    if (isObject(node.data) && current !== node.data) throw failed(op, 'the path selects an element the resource does not hold');
    return { holder, key, index, parent };
  }

  private elementAt(op: Operation, children: ChildIndex | undefined, key: string): { element: ElementModel; type: TypeRef } {
    const entry = children?.get(key);
    if (!entry) throw failed(op, 'the element name is not defined there');
    return entry;
  }

  /** The JSON key for `name` given the value: the name itself, or name + type for a choice element. */
  private keyFor(op: Operation, children: ChildIndex | undefined, name: string, value: PatchValue): string {
    if (children?.has(name)) return name;
    const isChoice = [...(children?.values() ?? [])].some((e) => e.element.choice && e.element.name === name);
    if (!isChoice) throw failed(op, 'the element name is not defined there');
    const key = name + upperFirst(value.type ?? '');
    if (value.type === undefined || !children?.has(key)) throw failed(op, 'a choice element needs a value of one of its types');
    return key;
  }

  /** The JSON of `value` for an element, checking that its type fits. */
  private materialize(op: Operation, value: PatchValue, element: ElementModel, allowed: TypeRef[]): unknown {
    if (value.parts) {
      const children = element.children ?? (allowed.length === 1 ? this.elementsOf(allowed[0]!.code) : undefined);
      if (!children) throw failed(op, 'nested parts fit only an element with children');
      return this.fromParts(op, value.parts, children);
    }
    const type = value.type!;
    const fits = allowed.some(
      (t) =>
        t.code === type ||
        (t.code === 'Resource' && isObject(value.json) && typeof value.json.resourceType === 'string') ||
        (t.primitive && isPrimitive(type) && jsonKind(t.code) === jsonKind(type)) ||
        (QUANTITY_TYPES.has(t.code) && QUANTITY_TYPES.has(type)),
    );
    if (!fits) throw failed(op, `a ${type} value does not fit an element of type ${allowed.map((t) => t.code).join(' | ')}`);
    return structuredClone(value.json);
  }

  private fromParts(op: Operation, parts: Json[], children: ChildIndex): Json {
    const out: Json = {};
    for (const part of parts) {
      if (typeof part.name !== 'string' || part.name === '') throw malformed('nested parts need a name', op.at);
      const value = valueOf(part, op.at);
      const key = this.keyFor(op, children, part.name, value);
      const { element, type } = this.elementAt(op, children, key);
      const json = this.materialize(op, value, element, element.choice ? [type] : element.types);
      if (element.isArray) ((out[key] ??= []) as unknown[]).push(json);
      else if (Object.hasOwn(out, key)) throw failed(op, 'nested parts repeat an element that allows one value');
      else out[key] = json;
    }
    return out;
  }

  private add(op: Operation): void {
    const container = this.single(op, op.path);
    if (!isObject(container.data)) throw failed(op, 'the path selects a primitive, which has no elements to add to');
    const children = this.childrenOf(container);
    const key = this.keyFor(op, children, op.name!, op.value!);
    const { element, type } = this.elementAt(op, children, key);
    const json = this.materialize(op, op.value!, element, element.choice ? [type] : element.types);
    const holder = container.data;
    if (element.isArray) {
      const list = holder[key];
      if (list !== undefined && !Array.isArray(list)) throw failed(op, 'the resource holds that element in a form other than a list');
      holder[key] = [...((list as unknown[] | undefined) ?? []), json];
      // A primitive list's `_name` twin must stay as long as the list (R4 JSON).
      const extensions = holder[`_${key}`];
      if (Array.isArray(extensions)) extensions.push(null);
      return;
    }
    const present = Object.keys(holder).some((k) => children?.get(k)?.element === element);
    if (present) throw failed(op, 'the element allows one value and is already present (use replace)');
    holder[key] = json;
  }

  /** The list a path names (`Patient.identifier`): its holder and key, even while it is empty. */
  private listOf(op: Operation): { holder: Json; key: string; element: ElementModel } {
    const split = /^(?:(.*)\.)?([A-Za-z][A-Za-z0-9]*)$/.exec(op.path.trim());
    if (!split) throw failed(op, 'insert and move need a path that ends in an element name');
    const [, prefix, name] = split;
    const container = prefix === undefined ? null : this.single(op, prefix);
    const holder = container ? container.data : this.resource;
    if (!isObject(holder)) throw failed(op, 'the path does not end in a list of elements');
    const children = container ? this.childrenOf(container) : this.elementsOf(String(this.resource.resourceType));
    const { element } = this.elementAt(op, children, name!);
    if (!element.isArray || element.choice) throw failed(op, 'the path does not end in a list of elements');
    const list = holder[name!];
    if (list !== undefined && !Array.isArray(list)) throw failed(op, 'the path does not end in a list of elements');
    return { holder, key: name!, element };
  }

  private insert(op: Operation): void {
    const { holder, key, element } = this.listOf(op);
    const list = (holder[key] as unknown[] | undefined) ?? [];
    if (op.index! > list.length) throw failed(op, `index ${op.index} is past the end of a list of ${list.length}`);
    const json = this.materialize(op, op.value!, element, element.types);
    list.splice(op.index!, 0, json);
    holder[key] = list;
    const extensions = holder[`_${key}`];
    if (Array.isArray(extensions)) extensions.splice(op.index!, 0, null);
  }

  private move(op: Operation): void {
    const { holder, key } = this.listOf(op);
    const list = (holder[key] as unknown[] | undefined) ?? [];
    if (op.source! >= list.length || op.destination! >= list.length) throw failed(op, `source and destination must be below the list's length ${list.length}`);
    for (const l of [list, holder[`_${key}`]]) {
      if (Array.isArray(l)) l.splice(op.destination!, 0, ...l.splice(op.source!, 1));
    }
  }

  private delete(op: Operation): void {
    const nodes = this.select(op, op.path);
    if (nodes.length === 0) return; // "delete … (if found)"
    if (nodes.length > 1) throw failed(op, `the path selects ${nodes.length} elements; delete removes one`);
    this.remove(op, nodes[0]!);
  }

  /** Removes a node, and any element left empty by it (an empty element is invalid: ele-1). */
  private remove(op: Operation, node: PathNode): void {
    const { holder, key, index, parent } = this.slotOf(op, node);
    for (const k of [key, `_${key}`]) {
      const held = holder[k];
      if (index !== null && Array.isArray(held)) held.splice(index, 1);
      if (index === null || (Array.isArray(held) && held.every((v) => v === null))) Reflect.deleteProperty(holder, k);
    }
    if (Object.keys(holder).length === 0 && parent.parentResNode) this.remove(op, parent);
  }

  private replace(op: Operation): void {
    const node = this.single(op, op.path);
    const { holder, key, index, parent } = this.slotOf(op, node);
    const children = this.childrenOf(parent);
    const { element } = this.elementAt(op, children, key);
    if (!element.choice) {
      const json = this.materialize(op, op.value!, element, element.types);
      if (index === null) holder[key] = json;
      else (holder[key] as unknown[])[index] = json;
      return;
    }
    const newKey = this.keyFor(op, children, element.name, op.value!);
    const entry = this.elementAt(op, children, newKey);
    const json = this.materialize(op, op.value!, entry.element, [entry.type]);
    if (newKey !== key) {
      Reflect.deleteProperty(holder, key);
      Reflect.deleteProperty(holder, `_${key}`);
    }
    holder[newKey] = json;
  }
}

function jsonKind(type: string): string {
  if (type === 'boolean') return 'boolean';
  return NUMBER_TYPES.has(type) ? 'number' : 'string';
}
