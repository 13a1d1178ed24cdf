import type { TextEncoding } from './charset.js';
import type { Delimiters, Hl7Message, Hl7MessageType, Hl7Segment } from './model.js';
import { invalidPath } from './errors.js';
import { parsePath } from './path.js';
import type { ParsedSegment } from './segment.js';

/** How the message was laid out in bytes, beyond what the model exposes; the serializer uses it. */
export interface MessageLayout {
  /** Exact terminator run after each segment. */
  readonly separators: readonly string[];
  /** The input started with a UTF-8 byte order mark. */
  readonly bom: boolean;
  /** How the text maps to bytes (MSH-18, or what an undeclared message turned out to be). */
  readonly encoding: TextEncoding;
}

const MSH_9_1 = parsePath('9');
const MSH_9_2 = parsePath('9.2');
const MSH_9_3 = parsePath('9.3');
const MSH_10 = parsePath('10');
const MSH_12 = parsePath('12');

/** Up to this many segments a scan beats building the by-name index. */
const LINEAR_LOOKUP = 40;

export class ParsedMessage implements Hl7Message {
  readonly delimiters: Delimiters;
  readonly segments: readonly ParsedSegment[];
  readonly segmentTerminator: string;
  readonly charset: string;
  readonly version: string;
  readonly type: Hl7MessageType;
  readonly controlId: string;
  readonly layout: MessageLayout;
  private byName: Map<string, ParsedSegment[]> | undefined;

  constructor(segments: ParsedSegment[], delimiters: Delimiters, charset: string, terminator: string, layout: MessageLayout) {
    this.segments = segments;
    this.delimiters = delimiters;
    this.charset = charset;
    this.segmentTerminator = terminator;
    this.layout = layout;
    const msh = segments[0]!;
    // A bounded split (MSH-n is f[n - 1]): indexing the whole MSH costs more when it holds thousands of fields.
    const f = msh.raw.split(delimiters.field, 12);
    this.version = msh.valueIn(f[11], MSH_12) ?? '';
    this.controlId = msh.valueIn(f[9], MSH_10) ?? '';
    const structure = msh.valueIn(f[8], MSH_9_3);
    this.type = { code: msh.valueIn(f[8], MSH_9_1) ?? '', trigger: msh.valueIn(f[8], MSH_9_2) ?? '', ...(structure === undefined ? {} : { structure }) };
  }

  get(path: string): string | undefined {
    const p = parsePath(path);
    if (p.segment === undefined) throw invalidPath(path);
    if (this.byName || this.segments.length > LINEAR_LOOKUP) return this.named(p.segment)[p.segmentIndex - 1]?.valueAt(p);
    let seen = 0;
    for (const s of this.segments) if (s.name === p.segment && ++seen === p.segmentIndex) return s.valueAt(p);
    return undefined;
  }

  segmentsNamed(name: string): Hl7Segment[] {
    return this.named(name).slice();
  }

  private named(name: string): readonly ParsedSegment[] {
    if (!this.byName) {
      const map = new Map<string, ParsedSegment[]>();
      for (const s of this.segments) {
        const list = map.get(s.name);
        if (list) list.push(s);
        else map.set(s.name, [s]);
      }
      this.byName = map;
    }
    return this.byName.get(name) ?? [];
  }
}
