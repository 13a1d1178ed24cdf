/**
 * Writes values into a resource under construction by element path:
 * `name[]` appends, `period.start` nests, an intermediate `participant[]`
 * opens a new array item, and `participant[=]` is the item the same segment's
 * rules opened last (FHIR Shorthand's soft index), or a new one when they
 * opened none: so two fields of one segment (AIP-3 the person, AIP-4 their
 * role) fill one item, and never an item another segment made.
 */

interface Step {
  key: string;
  append: boolean;
  /** `[=]`: the item this segment opened in the array. */
  current: boolean;
}

/** The item each array was last given by one segment's rules (one map per segment application). */
export type OpenedItems = Map<unknown[], Obj>;

const cache = new Map<string, Step[]>();

function steps(path: string): Step[] {
  let s = cache.get(path);
  if (!s) {
    s = path.split('.').map((part) =>
      part.endsWith('[]') ? { key: part.slice(0, -2), append: true, current: false } : part.endsWith('[=]') ? { key: part.slice(0, -3), append: false, current: true } : { key: part, append: false, current: false },
    );
    cache.set(path, s);
  }
  return s;
}

type Obj = Record<string, unknown>;

/** Whether a value already sits at the path (for fallback rules); `[=]` looks only at this segment's item. */
export function hasPath(target: Obj, path: string, opened?: OpenedItems): boolean {
  let node: unknown = target;
  for (const step of steps(path)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Obj)[step.key];
    if (Array.isArray(node)) node = step.current ? opened?.get(node) : node[node.length - 1];
  }
  return node !== undefined;
}

/** Sets `value` (an array for repeated fields) at the path. */
export function setPath(target: Obj, path: string, value: unknown, opened?: OpenedItems): void {
  const all = steps(path);
  let node = target;
  for (let i = 0; i < all.length - 1; i++) {
    const step = all[i]!;
    if (step.append || step.current) {
      const arr = (node[step.key] ??= []) as unknown[];
      let next = step.current ? opened?.get(arr) : undefined;
      if (!next) {
        next = {};
        arr.push(next);
        opened?.set(arr, next);
      }
      node = next;
    } else {
      node = (node[step.key] ??= {}) as Obj;
    }
  }
  const last = all[all.length - 1]!;
  if (last.append) {
    const arr = (node[last.key] ??= []) as unknown[];
    for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
      // One identifier sent twice (the SSN in PID-3 and PID-19) is one identifier: the first, typed one stays.
      if (last.key === 'identifier' && arr.some((a) => sameIdentifier(a, v))) continue;
      arr.push(v);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) opened?.set(arr, v as Obj);
    }
  } else {
    node[last.key] = value;
  }
}

function sameIdentifier(a: unknown, b: unknown): boolean {
  const x = a as { system?: unknown; value?: unknown } | null;
  const y = b as { system?: unknown; value?: unknown } | null;
  return x?.value !== undefined && x.value === y?.value && x.system === y?.system;
}

/** Replaces every "$value" string in `shape` by `value` (deep). */
export function applyShape(shape: unknown, value: unknown): unknown {
  if (shape === '$value') return value;
  if (Array.isArray(shape)) return shape.map((s) => applyShape(s, value));
  if (shape !== null && typeof shape === 'object') {
    const out: Obj = {};
    for (const k in shape) if (Object.hasOwn(shape, k)) out[k] = applyShape((shape as Obj)[k], value);
    return out;
  }
  return shape;
}
