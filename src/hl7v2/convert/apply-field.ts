import type { Hl7Segment } from '../model.js';
import type { Condition, FieldRule } from './template-schema.js';
import type { Obj, RunState } from './run-state.js';
import { mapObservationValue, mapRepetition, sourcePath, text } from './read-value.js';
import { addSeconds, secondsPerUnit } from './datetime.js';
import { applyShape, hasPath, setPath, type OpenedItems } from './set-path.js';

/** Where a value was read, for warnings: `OBX-5 (segment 12)`. Never the value. */
function where(seg: Hl7Segment, rule: FieldRule, index: number): string {
  return `${seg.name}-${rule.from ?? '?'} (segment ${index + 1})`;
}

/** The segment a path reads: this one, or the in-context segment its prefix names (`OBR-7`, `MSH-7`). */
function sourceSegment(run: RunState, seg: Hl7Segment, from: string): Hl7Segment | undefined {
  const p = sourcePath(from);
  if (p.segment === undefined || p.segment === seg.name) return seg;
  return run.segs.get(p.segment)?.seg;
}

export function firstText(run: RunState, seg: Hl7Segment, from: string): string | undefined {
  const src = sourceSegment(run, seg, from);
  if (!src) return undefined;
  const t = text(src, sourcePath(from), 1)?.trim();
  return t === '' ? undefined : t;
}

export function conditionHolds(run: RunState, seg: Hl7Segment, when: Condition): boolean {
  const v = firstText(run, seg, when.from);
  if (when.absent) return v === undefined;
  if (when.in) return v !== undefined && when.in.includes(v);
  if (when.notIn) return v !== undefined && !when.notIn.includes(v);
  return v !== undefined;
}

/** The value of a data-type rule read from one segment: one repetition, all of them, or joined text. */
function readFrom(run: RunState, rule: FieldRule, seg: Hl7Segment, index: number): unknown {
  const p = sourcePath(rule.from!);
  const w = where(seg, rule, index);
  const reps = seg.repetitions(p.field);
  if (reps === 0) return undefined;
  if (rule.type === 'text' || rule.type === 'base64Text') {
    const parts: string[] = [];
    for (let r = 1; r <= reps; r++) parts.push(text(seg, p, r) ?? '');
    const joined = parts.join('\n').trim();
    if (joined === '') return undefined;
    return rule.type === 'text' ? joined : Buffer.from(joined, 'utf8').toString('base64');
  }
  if (!rule.repeat) return mapRepetition(run.ctx, rule, seg, p, 1, w);
  const out: unknown[] = [];
  for (let r = 1; r <= reps; r++) {
    const v = mapRepetition(run.ctx, rule, seg, p, r, w);
    if (v !== undefined) out.push(v);
  }
  return out.length === 0 ? undefined : out;
}

/** Values read from the segments of one name that follow `index` (NTE after OBX), skipping `skip`. */
function readFollowing(run: RunState, rule: FieldRule, index: number): unknown[] | undefined {
  const segments = run.message.segments;
  const skip = rule.skip ?? [];
  const out: unknown[] = [];
  for (let i = index + 1; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.name === rule.following) {
      const v = readFrom(run, rule, s, i);
      if (v !== undefined) out.push(v);
    } else if (!skip.includes(s.name)) break;
  }
  return out.length === 0 ? undefined : out;
}

/**
 * Applies one field rule to `target`. Returns whether a value from the
 * message itself (not a constant or a reference) was set.
 */
export function applyField(run: RunState, rule: FieldRule, target: Obj, seg: Hl7Segment, index: number, opened?: OpenedItems): boolean {
  if (rule.when && !conditionHolds(run, seg, rule.when)) return false;
  if (rule.fallback && hasPath(target, rule.to, opened)) return false;
  let to = rule.to;
  let value: unknown;
  let fromData = false;
  if (rule.ref !== undefined) {
    const p = run.current.get(rule.ref);
    value = p === undefined ? undefined : { reference: p.fullUrl };
  } else if (rule.value !== undefined) {
    value = rule.value;
  } else if (rule.type === 'ObservationValue') {
    const r = mapObservationValue(run.ctx, rule, seg, where(seg, rule, index));
    if (r) [to, value] = [to.replace(/value$/, r[0]), r[1]];
    fromData = true;
  } else if (rule.from !== undefined) {
    const src = rule.following ? undefined : sourceSegment(run, seg, rule.from);
    value = rule.following ? readFollowing(run, rule, index) : src && readFrom(run, rule, src, index);
    fromData = true;
  }
  if (rule.plus !== undefined && typeof value === 'string') value = plusDuration(run, seg, rule.plus, value, where(seg, rule, index));
  if (value === undefined) return false;
  // Several NTE into one string element (DiagnosticReport.conclusion): one paragraph each.
  if (rule.following && Array.isArray(value) && !to.endsWith('[]') && value.every((v) => typeof v === 'string')) value = value.join('\n');
  if (rule.merge !== undefined) value = Array.isArray(value) ? value.map((v) => withMembers(rule.merge!, v)) : withMembers(rule.merge, value);
  if (rule.shape !== undefined) value = Array.isArray(value) && (rule.repeat || rule.following) ? value.map((v) => applyShape(rule.shape, v)) : applyShape(rule.shape, value);
  setPath(target, to, value, opened);
  return fromData;
}

/** `instant` plus the duration the rule's `plus` names, or undefined (with a warning when the unit is unknown). */
function plusDuration(run: RunState, seg: Hl7Segment, plus: NonNullable<FieldRule['plus']>, instant: string, at: string): string | undefined {
  const amount = firstText(run, seg, plus.from);
  if (amount === undefined || !/^\d+(\.\d+)?$/.test(amount)) return undefined;
  const unit = plus.unit === undefined ? undefined : firstText(run, seg, plus.unit);
  const perUnit = secondsPerUnit(unit);
  if (perUnit === undefined) {
    run.ctx.warn(`${at}: duration unit at ${plus.unit} is not one of s, min, h, d; no end time derived`);
    return undefined;
  }
  return addSeconds(instant, Number(amount) * perUnit);
}

function withMembers(members: Record<string, unknown>, value: unknown): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...members, ...value } : value;
}
