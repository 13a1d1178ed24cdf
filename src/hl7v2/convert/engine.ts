import type { Hl7Segment } from '../model.js';
import { HavenError } from '../../kernel/errors.js';
import type { Rule, SegmentTemplate } from './template-schema.js';
import type { Obj, Produced, RunState } from './run-state.js';
import { applyField, conditionHolds, firstText } from './apply-field.js';
import { composite, sourcePath } from './read-value.js';
import { mapCx, mapEi } from './datatypes-codes.js';
import { applyShape, hasPath, setPath, type OpenedItems } from './set-path.js';
import { deterministicUuid } from './ids.js';

/** Runs every rule of the message template over the segments, in message order. */
export function runRules(run: RunState): void {
  const segments = run.message.segments;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const level = run.enter(seg);
    const rules = run.tmpl.rulesBySegment.get(seg.name);
    if (rules) for (const rule of rules) fire(run, rule, seg, i, level);
  }
  for (const p of run.produced) finish(p);
}

function fire(run: RunState, rule: Rule, seg: Hl7Segment, index: number, level: number): void {
  if (rule.first && run.fired.has(rule.name)) return;
  if (rule.when && !conditionHolds(run, seg, rule.when)) return;
  const tmpl = run.set.segments.get(rule.template)!;
  const into = rule.into === undefined ? undefined : run.current.get(rule.into);
  if (rule.into !== undefined && into === undefined && rule.intoOnly) return;
  if (into) {
    applyAll(run, rule, tmpl, into.resource, seg, index);
    Object.assign(into.defaults, tmpl.defaults);
    link(run, rule, into);
    run.fired.add(rule.name);
    return;
  }
  const resource: Obj = { resourceType: tmpl.resourceType };
  if (applyAll(run, rule, tmpl, resource, seg, index) === 0) {
    run.ctx.warn(`${seg.name} (segment ${index + 1}): nothing mapped; no ${tmpl.resourceType} produced`);
    return;
  }
  const made = produce(run, rule, tmpl, resource, seg, index, level);
  // The same business key twice in one message (an allergy repeated per order group): a transaction may
  // write a resource once, so the first occurrence stands for both.
  const earlier = run.produced.find((p) => p.id === made.id);
  if (earlier) run.ctx.warn(`${made.segment}: same ${made.resourceType} as ${earlier.segment}; the first is kept`);
  const produced = earlier ?? made;
  if (!earlier) run.produced.push(produced);
  run.current.set(rule.name, produced);
  if (rule.into !== undefined) run.current.set(rule.into, produced);
  link(run, rule, produced);
  run.fired.add(rule.name);
}

function applyAll(run: RunState, rule: Rule, tmpl: SegmentTemplate, target: Obj, seg: Hl7Segment, index: number): number {
  let mapped = 0;
  // `[=]` paths reach the items this segment's rules opened, never another segment's.
  const opened: OpenedItems = new Map();
  for (const f of tmpl.fields) if (applyField(run, f, target, seg, index, opened)) mapped++;
  for (const f of rule.fields) if (applyField(run, f, target, seg, index, opened)) mapped++;
  for (const [path, value] of Object.entries(rule.set)) setPath(target, path, value, opened);
  return mapped;
}

function link(run: RunState, rule: Rule, produced: Produced): void {
  for (const l of rule.link) {
    const target = run.current.get(l.rule);
    if (!target || target === produced) continue;
    const ref = { reference: produced.fullUrl };
    setPath(target.resource, l.to, l.shape === undefined ? ref : applyShape(l.shape, ref));
  }
}

function produce(run: RunState, rule: Rule, tmpl: SegmentTemplate, resource: Obj, seg: Hl7Segment, index: number, level: number): Produced {
  const type = tmpl.resourceType;
  const identity = tmpl.identity ? findIdentity(run, tmpl.identity, seg) : undefined;
  const asked = rule.write ?? tmpl.write;
  const write = asked !== 'update' && identity === undefined && tmpl.withoutIdentity === 'update' ? 'update' : asked;
  if (write !== 'update' && identity === undefined) {
    const field = `${seg.name}-${tmpl.identity?.from ?? '?'}`;
    throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', `${field} (segment ${index + 1}) holds no identifier to match the ${type} on`);
  }
  const key = write !== 'update' && identity ? `${identity.system}|${identity.value}` : businessKey(run, tmpl, seg, index, type, rule.name);
  const id = deterministicUuid(write !== 'update' ? `${type}|${key}` : key);
  const defaults = Object.assign({}, tmpl.defaults);
  const segment = `${seg.name} (segment ${index + 1})`;
  return { rule: rule.name, resourceType: type, resource, key, id, fullUrl: `urn:uuid:${id}`, write, level, defaults, required: tmpl.required, segment, identity };
}

/** The business key: sender, type and the template's key parts; message-scoped when the message carries none. */
function businessKey(run: RunState, tmpl: SegmentTemplate, seg: Hl7Segment, index: number, type: string, rule: string): string {
  let any = false;
  const parts = tmpl.key.map((part) => {
    if (part.startsWith('@')) return run.current.get(part.slice(1))?.key ?? '';
    // `2.1|3.1`: the first alternative the message fills (placer number, else filler number).
    let v = '';
    for (const alt of part.split('|')) if (v === '') v = firstText(run, seg, alt) ?? '';
    if (v !== '') any = true;
    return v;
  });
  if (!any) return `${run.messageId}|${index}|${type}|${rule}`;
  return `${run.sender}|${type}|${parts.join('|')}`;
}

/** The identifier a conditional write matches on: the first repetition with an assigning authority, else the first with a value. */
function findIdentity(run: RunState, spec: NonNullable<SegmentTemplate['identity']>, seg: Hl7Segment): { system: string; value: string } | undefined {
  const p = sourcePath(spec.from);
  const reps = seg.repetitions(p.field);
  let fallback: { system: string; value: string } | undefined;
  for (let r = 1; r <= reps; r++) {
    const c = composite(seg, p, r, run.ctx.delimiters);
    const id = (spec.type === 'CX' ? mapCx(run.ctx, c) : mapEi(run.ctx, c)) as { system?: string; value?: string } | undefined;
    if (id?.system === undefined || id.value === undefined) continue;
    const hasAuthority = spec.type === 'CX' ? c.c(4) !== undefined : c.c(2) !== undefined || c.c(3) !== undefined;
    if (hasAuthority) return { system: id.system, value: id.value };
    fallback ??= { system: id.system, value: id.value };
  }
  return fallback;
}

function finish(p: Produced): void {
  for (const [path, value] of Object.entries(p.defaults)) if (!hasPath(p.resource, path)) setPath(p.resource, path, value);
  for (const path of p.required) {
    if (!hasPath(p.resource, path)) {
      throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', `${p.segment}: ${p.resourceType}.${path} is required and the message does not supply it`);
    }
  }
}
