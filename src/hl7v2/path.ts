import { invalidPath } from './errors.js';

/** A parsed path; indexes are 1-based, `segmentIndex` counts segments of the same id. */
export interface Hl7Path {
  segment?: string;
  segmentIndex: number;
  field: number;
  repetition: number;
  component: number;
  subcomponent: number;
}

const MESSAGE_PATH = /^([A-Z][A-Z0-9]{2})(?:\[(\d{1,6})\])?-(\d{1,4})(?:\[(\d{1,4})\])?(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?$/;
const SEGMENT_PATH = /^(\d{1,4})(?:\[(\d{1,4})\])?(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?$/;
const cache = new Map<string, Hl7Path>();
const CACHE_LIMIT = 10_000;

function index(text: string | undefined): number {
  return text === undefined ? 1 : Number(text);
}

/** Parses `PID-3[2].1.2`, `OBX[2]-5` (message level) or `3[2].1` (segment level, `segment` undefined). */
export function parsePath(path: string): Hl7Path {
  const hit = cache.get(path);
  if (hit) return hit;
  const m = MESSAGE_PATH.exec(path);
  let parsed: Hl7Path;
  if (m) {
    parsed = { segment: m[1]!, segmentIndex: index(m[2]), field: Number(m[3]), repetition: index(m[4]), component: index(m[5]), subcomponent: index(m[6]) };
  } else {
    const s = SEGMENT_PATH.exec(path);
    if (!s) throw invalidPath(path);
    parsed = { segmentIndex: 1, field: Number(s[1]), repetition: index(s[2]), component: index(s[3]), subcomponent: index(s[4]) };
  }
  if (parsed.segmentIndex < 1 || parsed.field < 1 || parsed.repetition < 1 || parsed.component < 1 || parsed.subcomponent < 1) {
    throw invalidPath(path);
  }
  // Paths come from templates, a bounded set; the limit only guards against callers building paths from data.
  if (cache.size < CACHE_LIMIT) cache.set(path, parsed);
  return parsed;
}
