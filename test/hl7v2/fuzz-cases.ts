/**
 * Deterministic fuzz inputs for the HL7 v2 parser. Case `i` under seed `s`
 * depends on nothing else, so one failing case can be replayed alone.
 */
import { seededRandom } from '../support/random.js';

export interface FuzzCase {
  input: Buffer;
  mutation: string;
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, items: readonly T[]): T => items[int(r, items.length)]!;

const DELIMS = ['|', '^', '~', '\\', '&', '\r', '\n', '\r\n', '#', '||||', '^^^', '~~'];
const ESCAPES = ['\\F\\', '\\S\\', '\\T\\', '\\R\\', '\\E\\', '\\P\\', '\\H\\', '\\N\\', '\\.br\\', '\\.sp3\\', '\\.sk99\\', '\\X41\\', '\\XC3A9\\', '\\XFF\\', '\\XZZ\\', '\\X4\\', '\\Zloc\\', '\\C2842\\', '\\M2442\\', '\\', '\\\\', '\\.in-9999\\', '\\X' + '41'.repeat(50) + '\\'];
const CHARSETS = ['ASCII', '8859/1', 'UNICODE UTF-8', 'UNICODE', 'ISO IR87', '', '8859/1~UNICODE UTF-8', 'UNICODE UTF-8^x', '\\E\\'];
const IDS = ['PID', 'PV1', 'OBX', 'ZZ1', 'NTE', 'MSH', 'BHS', 'BTS', 'FHS', 'FTS', 'P1D', 'pid', 'AB', 'ABCD', '1AB', ''];

function insert(b: Buffer, at: number, bytes: Buffer): Buffer {
  return Buffer.concat([b.subarray(0, at), bytes, b.subarray(at)]);
}

function segmentBounds(b: Buffer): number[] {
  const starts = [0];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a || b[i] === 0x0d) starts.push(i + 1);
  return starts;
}

const mutations: readonly ((r: Rand, b: Buffer) => [Buffer, string])[] = [
  (r, b) => {
    const out = Buffer.from(b);
    const k = 1 + int(r, 8);
    for (let i = 0; i < k; i++) out[int(r, out.length)] = int(r, 256);
    return [out, `flip ${k} bytes`];
  },
  (r, b) => {
    const at = int(r, b.length + 1);
    return [b.subarray(0, at), `truncate at ${at}`];
  },
  (r, b) => {
    let out = b;
    const k = 1 + int(r, 6);
    for (let i = 0; i < k; i++) out = insert(out, int(r, out.length + 1), Buffer.from(pick(r, DELIMS), 'latin1'));
    return [out, `insert ${k} delimiters`];
  },
  (r, b) => {
    const starts = segmentBounds(b);
    const i = int(r, starts.length - 1);
    const seg = b.subarray(starts[i]!, starts[i + 1]!);
    return [insert(b, starts[int(r, starts.length)]!, seg), `duplicate segment ${i + 1}`];
  },
  (r, b) => {
    let out = b;
    const k = 1 + int(r, 10);
    for (let i = 0; i < k; i++) out = insert(out, int(r, out.length + 1), Buffer.from(pick(r, ESCAPES), 'latin1'));
    return [out, `insert ${k} escapes`];
  },
  (r, b) => {
    const size = 1000 + int(r, r() < 0.02 ? 1_000_000 : 20_000);
    const fill = Buffer.alloc(size, pick(r, ['A', '^', '~', '&', '\\', '|', 'é']));
    return [insert(b, int(r, b.length + 1), fill), `huge field of ${size} bytes`];
  },
  (r) => {
    const n = int(r, 400);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = int(r, 256);
    return r() < 0.5 ? [Buffer.concat([Buffer.from('MSH|^~\\&|'), out]), `MSH + ${n} random bytes`] : [out, `${n} random bytes`];
  },
  (r, b) => {
    const cs = pick(r, CHARSETS);
    const head = b.toString('latin1').replace(/^(\uFEFF|\xef\xbb\xbf)?(MSH\|(?:[^|\r\n]*\|){16})[^|\r\n]*/, `$1$2${cs}`);
    const tail = r() < 0.5 ? Buffer.from([0xc3, 0x28, 0xe9, 0xff]) : Buffer.from('Zoë ✓', 'utf8');
    return [insert(Buffer.from(head, 'latin1'), int(r, b.length), tail), `charset ${JSON.stringify(cs)} plus 8-bit bytes`];
  },
  (r, b) => {
    const term = pick(r, ['\r', '\r\n', '\n\n', '\r\r\n', '']);
    return [Buffer.from(b.toString('latin1').replace(/\n/g, () => (r() < 0.9 ? term : '\n')), 'latin1'), `terminators ${JSON.stringify(term)}`];
  },
  (r, b) => {
    const chars = '|^~\\&#!@$%*+-/:;<=>?AZ az09 \t';
    const enc = Array.from({ length: 3 + int(r, 4) }, () => chars[int(r, chars.length)]).join('');
    const s = b.toString('latin1');
    const at = s.indexOf('MSH') + 3;
    return [Buffer.from(at >= 3 ? s.slice(0, at) + enc + s.slice(s.indexOf('|', at + 1)) : s, 'latin1'), `delimiters ${JSON.stringify(enc)}`];
  },
  (r, b) => {
    const copies = 1 + int(r, 3);
    const count = r() < 0.8 ? copies : int(r, 5);
    const term = pick(r, ['\r', '\n']);
    const head = Buffer.from(`${r() < 0.5 ? `FHS|^~\\&${term}` : ''}BHS|^~\\&${term}`);
    const body = Array.from({ length: copies }, () => (b[b.length - 1] === 0x0a || b[b.length - 1] === 0x0d ? b : Buffer.concat([b, Buffer.from(term)])));
    return [Buffer.concat([head, ...body, Buffer.from(`BTS|${count}${term}FTS|1${term}`)]), `batch of ${copies}, BTS-1 ${count}`];
  },
];

function value(r: Rand): string {
  return r() < 0.2 ? pick(r, ESCAPES) : 'v' + int(r, 99);
}

/** A field with random repetitions, components and subcomponents. */
function field(r: Rand): string {
  let out = '';
  for (let rep = int(r, 4) === 0 ? 2 : 1; rep > 0; rep--) {
    for (let c = 1 + int(r, 4); c > 0; c--) {
      out += value(r);
      if (r() < 0.15) out += '&' + value(r);
      if (c > 1) out += '^';
    }
    if (rep > 1) out += '~';
  }
  return out;
}

/** A message built from scratch: random segments, repetitions, components, escapes. */
function generated(r: Rand): [Buffer, string] {
  const term = pick(r, ['\r', '\n', '\r\n']);
  let text = `MSH|^~\\&|A|B|C|D|20260101||${pick(r, ['ADT^A01', 'ORU^R01^ORU_R01', 'ACK', '^', ''])}|${int(r, 1e6)}|P|2.${2 + int(r, 7)}`;
  const segments = int(r, 15);
  for (let s = 0; s < segments; s++) {
    text += term + (r() < 0.95 ? pick(r, ['PID', 'OBX', 'ZAB', 'NTE', 'PV1']) : pick(r, IDS));
    for (let f = int(r, 15); f > 0; f--) text += '|' + (r() < 0.3 ? '' : field(r));
  }
  return [Buffer.from(text + (r() < 0.5 ? term : ''), 'latin1'), `generated ${segments + 1} segments`];
}

export function fuzzCase(seed: number, index: number, samples: readonly Buffer[]): FuzzCase {
  const r = seededRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  if (r() < 0.15) {
    const [input, mutation] = generated(r);
    return { input, mutation };
  }
  const base = int(r, samples.length);
  let input = samples[base]!;
  const applied: string[] = [];
  const rounds = 1 + (r() < 0.3 ? int(r, 3) : 0);
  for (let i = 0; i < rounds; i++) {
    const m = int(r, mutations.length);
    const [out, what] = mutations[m]!(r, input);
    input = out;
    applied.push(what);
  }
  return { input, mutation: `sample ${base}: ${applied.join(', ')}` };
}
