import type { Hl7Message, Hl7Segment } from '../model.js';
import type { MapContext } from './map-context.js';
import type { ResolvedMessage, TemplateSet } from './template-set.js';
import type { WriteMode } from './template-schema.js';

export type Obj = Record<string, unknown>;

/** One resource the conversion produces, with how it is written. */
export interface Produced {
  readonly rule: string;
  readonly resourceType: string;
  readonly resource: Obj;
  readonly key: string;
  readonly id: string;
  readonly fullUrl: string;
  readonly write: WriteMode;
  /** The identifier a conditional write matches on. */
  readonly identity: { system: string; value: string } | undefined;
  readonly level: number;
  readonly defaults: Obj;
  readonly required: string[];
  readonly segment: string;
}

/**
 * The state of one conversion: the segments and resources "in context"
 * (the current patient, visit, order, report, specimen), cleared as groups
 * close, per the message template's levels.
 */
export class RunState {
  readonly produced: Produced[] = [];
  readonly current = new Map<string, Produced>();
  readonly segs = new Map<string, { seg: Hl7Segment; level: number }>();
  readonly fired = new Set<string>();
  depth = -1;

  constructor(
    readonly set: TemplateSet,
    readonly tmpl: ResolvedMessage,
    readonly message: Hl7Message,
    readonly ctx: MapContext,
    readonly messageId: string,
    readonly sender: string,
  ) {}

  /** Enters segment `seg`: opens its group and closes the groups it ends. */
  enter(seg: Hl7Segment): number {
    const level = this.tmpl.levelOf.get(seg.name);
    if (level === undefined) {
      this.segs.set(seg.name, { seg, level: this.depth });
      return this.depth;
    }
    const restart = this.segs.get(seg.name)?.level === level;
    this.close(restart ? level : level + 1);
    this.depth = level;
    this.segs.set(seg.name, { seg, level });
    return level;
  }

  private close(from: number): void {
    for (const [name, s] of this.segs) if (s.level >= from) this.segs.delete(name);
    for (const [name, p] of this.current) if (p.level >= from) this.current.delete(name);
  }
}
