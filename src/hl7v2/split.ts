/** The text of a message or batch cut at its segment terminators. */
export interface SegmentTexts {
  /** Segment texts without terminators; never empty except a leading one. */
  raws: string[];
  /** The exact terminator run after each segment (`''` after a last unterminated one). */
  separators: string[];
}

const CR = 13;
const LF = 10;

/**
 * Cuts at every run of CR/LF. HL7 prescribes CR, but files and many senders
 * use LF or CRLF, and blank lines occur; keeping each run verbatim lets the
 * serializer give back the original bytes.
 */
export function splitSegments(text: string): SegmentTexts {
  const cr = text.indexOf('\r');
  const lf = text.indexOf('\n');
  if (cr < 0 || lf < 0) {
    const fast = splitOn(text, cr < 0 ? '\n' : '\r');
    if (fast) return fast;
  }
  return splitRuns(text, cr, lf);
}

/** One terminator character and no blank lines (nearly every message): a native split. */
function splitOn(text: string, sep: string): SegmentTexts | undefined {
  const raws = text.split(sep);
  if (raws[raws.length - 1] === '') raws.pop();
  else if (raws.length === 1 && raws[0] === '') raws.pop();
  const separators = new Array<string>(raws.length).fill(sep);
  for (let i = 0; i < raws.length; i++) if (raws[i] === '') return undefined;
  if (raws.length > 0 && !text.endsWith(sep)) separators[raws.length - 1] = '';
  return { raws, separators };
}

function splitRuns(text: string, firstCr: number, firstLf: number): SegmentTexts {
  const raws: string[] = [];
  const separators: string[] = [];
  const len = text.length;
  let cr = firstCr;
  let lf = firstLf;
  let pos = 0;
  while (pos < len) {
    const end = cr < 0 ? (lf < 0 ? len : lf) : lf < 0 || cr < lf ? cr : lf;
    let after = end;
    while (after < len) {
      const c = text.charCodeAt(after);
      if (c !== CR && c !== LF) break;
      after++;
    }
    raws.push(text.slice(pos, end));
    separators.push(after === end + 1 ? (text.charCodeAt(end) === CR ? '\r' : '\n') : text.slice(end, after));
    pos = after;
    if (cr >= 0 && cr < after) cr = text.indexOf('\r', after);
    if (lf >= 0 && lf < after) lf = text.indexOf('\n', after);
  }
  return { raws, separators };
}

/** Character offset of each segment in the text it was cut from. */
export function segmentOffsets(parts: SegmentTexts): number[] {
  const offsets = new Array<number>(parts.raws.length);
  let pos = 0;
  for (let i = 0; i < parts.raws.length; i++) {
    offsets[i] = pos;
    pos += parts.raws[i]!.length + parts.separators[i]!.length;
  }
  return offsets;
}

/** The terminator a message uses, judged by its first one; `\r` (the standard's) when there is none. */
export function terminatorOf(separators: readonly string[]): string {
  const first = separators[0] ?? '';
  if (first.startsWith('\r\n')) return '\r\n';
  if (first.startsWith('\n')) return '\n';
  return '\r';
}
