import type { Hl7MessageType } from '../model.js';
import type { Condition, FieldRule, MessageTemplate, Rule, SegmentTemplate, Settings, ValueTable } from './template-schema.js';

/** A message template with inheritance resolved and lookups precomputed. */
export interface ResolvedMessage {
  readonly name: string;
  readonly levelOf: Map<string, number>;
  readonly requires: { path: string; reason: string }[];
  readonly merge?: { survivor: string; retired: string };
  readonly rulesBySegment: Map<string, Rule[]>;
}

/** Everything the engine reads for one sender: the built-ins overlaid by the override directory and the sender's own files. */
export interface TemplateSet {
  readonly settings: Settings;
  readonly tables: Map<string, ValueTable>;
  readonly segments: Map<string, SegmentTemplate>;
  readonly messages: Map<string, ResolvedMessage>;
}

/** Template names tried for a message, most specific first: ADT_A01, the structure (ADT_A01 for A04), ADT, default. */
export function candidates(type: Hl7MessageType): string[] {
  const out = [`${type.code}_${type.trigger}`];
  if (type.structure) out.push(type.structure);
  out.push(type.code, 'default');
  return out;
}

export function pickTemplate(set: TemplateSet, type: Hl7MessageType): ResolvedMessage | undefined {
  for (const name of candidates(type)) {
    const hit = set.messages.get(name);
    if (hit) return hit;
  }
  return undefined;
}

/** Resolves `extends` chains (addRules / dropRules / overrides) into a flat rule list. */
export function resolveMessage(name: string, all: Map<string, MessageTemplate>, seen: string[] = []): ResolvedMessage {
  const flat = flatten(name, all, seen);
  const rulesBySegment = new Map<string, Rule[]>();
  for (const rule of flat.rules.map(uniformRule)) {
    const list = rulesBySegment.get(rule.segment) ?? [];
    list.push(rule);
    rulesBySegment.set(rule.segment, list);
  }
  const levelOf = new Map<string, number>();
  flat.levels.forEach((names, i) => names.forEach((n) => levelOf.set(n, i)));
  return { name, levelOf, requires: flat.requires, rulesBySegment, ...(flat.merge ? { merge: flat.merge } : {}) };
}

interface Flat {
  rules: Rule[];
  levels: string[][];
  requires: { path: string; reason: string }[];
  merge?: { survivor: string; retired: string };
}

function flatten(name: string, all: Map<string, MessageTemplate>, seen: string[]): Flat {
  const t = all.get(name);
  if (!t) throw new Error(`message template ${name} does not exist${seen.length ? ` (extended by ${seen.at(-1)})` : ''}`);
  if (seen.includes(name)) throw new Error(`message templates extend each other in a cycle: ${[...seen, name].join(' → ')}`);
  const parent: Flat = t.extends ? flatten(t.extends, all, [...seen, name]) : { rules: [], levels: [], requires: [] };
  const drop = new Set(t.dropRules ?? []);
  let rules = (t.rules ?? parent.rules).filter((r) => !drop.has(r.name));
  for (const add of t.addRules ?? []) {
    const at = rules.findIndex((r) => r.name === add.name);
    rules = at < 0 ? [...rules, add] : rules.map((r, i) => (i === at ? add : r));
  }
  const merge = t.merge ?? parent.merge;
  return { rules, levels: t.levels ?? parent.levels, requires: t.requires ?? parent.requires, ...(merge ? { merge } : {}) };
}

/*
 * The engine reads every rule and template property per segment. Parsed JSON
 * gives each object only the keys its file wrote, so those reads meet dozens
 * of object shapes (megamorphic, a dictionary lookup each). The copies below
 * carry every key, absent ones as undefined, in one order: one shape per kind.
 */

/** A field rule with every key of the schema (absent ones undefined). */
export function uniformField(f: FieldRule): FieldRule {
  return {
    to: f.to,
    from: f.from,
    type: f.type,
    table: f.table,
    repeat: f.repeat,
    value: f.value,
    ref: f.ref,
    shape: f.shape,
    merge: f.merge,
    fallback: f.fallback,
    typeFrom: f.typeFrom,
    unitFrom: f.unitFrom,
    following: f.following,
    skip: f.skip,
    plus: f.plus === undefined ? undefined : { from: f.plus.from, unit: f.plus.unit },
    when: uniformCondition(f.when),
  };
}

function uniformCondition(w: Condition | undefined): Condition | undefined {
  return w === undefined ? undefined : { from: w.from, in: w.in, notIn: w.notIn, absent: w.absent };
}

function uniformRule(r: Rule): Rule {
  return {
    name: r.name,
    segment: r.segment,
    template: r.template,
    into: r.into,
    intoOnly: r.intoOnly,
    first: r.first,
    when: uniformCondition(r.when),
    write: r.write,
    fields: r.fields.map(uniformField),
    set: r.set,
    link: r.link.map((l) => ({ rule: l.rule, to: l.to, shape: l.shape })),
  };
}

/** A segment template with every key of the schema, its field rules likewise. */
export function uniformSegment(t: SegmentTemplate): SegmentTemplate {
  return {
    description: t.description,
    resourceType: t.resourceType,
    write: t.write,
    key: t.key,
    identity: t.identity,
    withoutIdentity: t.withoutIdentity,
    fields: t.fields.map(uniformField),
    defaults: t.defaults,
    required: t.required,
  };
}
