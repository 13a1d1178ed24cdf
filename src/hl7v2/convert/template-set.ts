import type { Hl7MessageType } from '../model.js';
import type { MessageTemplate, Rule, SegmentTemplate, Settings, ValueTable } from './template-schema.js';

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
  for (const rule of flat.rules) {
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
