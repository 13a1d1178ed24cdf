import { hash } from 'node:crypto';

/**
 * RFC 9162 §2.1 Merkle tree hashing: leaf = SHA-256(0x00 ‖ entry),
 * node = SHA-256(0x01 ‖ left ‖ right). Trees of any size, built
 * incrementally with a compact "frontier" (the roots of the perfect subtrees
 * that make up the tree, largest first), so neither the sequencer nor the
 * verifier ever holds more than log2(n) hashes.
 */
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(entry: Uint8Array): Buffer {
  return hash('sha256', Buffer.concat([LEAF, entry]), 'buffer');
}

// Interior nodes of hashes (32 bytes each, the only kind the log makes) are hashed from one reused
// buffer: hash() is synchronous, and the sequencer computes about one node per leaf it appends.
const pair = Buffer.alloc(65, 1);

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== 32 || right.length !== 32) return hash('sha256', Buffer.concat([NODE, left, right]), 'buffer');
  pair.set(left, 1);
  pair.set(right, 33);
  return hash('sha256', pair, 'buffer');
}

export const EMPTY_ROOT = hash('sha256', Buffer.alloc(0), 'buffer');

/** Perfect-subtree roots of a tree of `size` leaves, largest (leftmost) first. */
export interface Frontier {
  size: number;
  hashes: Buffer[];
}

export function emptyFrontier(): Frontier {
  return { size: 0, hashes: [] };
}

/** Appends one leaf hash, merging equal-sized subtrees (binary carry). Mutates `f`. */
export function appendLeaf(f: Frontier, leaf: Buffer): void {
  let h = leaf;
  let n = f.size;
  // Each trailing 1-bit of the old size is a full subtree of the same height as `h`.
  while (n % 2 === 1) {
    h = nodeHash(f.hashes.pop()!, h);
    n = Math.floor(n / 2);
  }
  f.hashes.push(h);
  f.size += 1;
}

/** The RFC 9162 root (MTH) of the tree the frontier describes: fold right to left. */
export function frontierRoot(f: Frontier): Buffer {
  if (f.hashes.length === 0) return EMPTY_ROOT;
  let h = f.hashes[f.hashes.length - 1]!;
  for (let i = f.hashes.length - 2; i >= 0; i--) h = nodeHash(f.hashes[i]!, h);
  return h;
}

/** MTH over a list of leaf hashes (RFC 9162 §2.1.1), by the split at the largest power of two. */
export function rootOf(leaves: Buffer[], from = 0, to = leaves.length): Buffer {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootOf(leaves, from, from + k), rootOf(leaves, from + k, to));
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of the leaves [from, to): from a leaf list, or (after a prune) partly from stored subtree roots. */
export type RangeRoot = (from: number, to: number) => Buffer;

export const leavesRoot = (leaves: Buffer[]): RangeRoot => (from, to) => rootOf(leaves, from, to);

/** A subtree the proof needs lies (partly) before the first kept leaf and is not one of the kept roots. */
export class PrunedRangeError extends Error {
  constructor(readonly from: number, readonly to: number, readonly firstKept: number) {
    super(`leaves ${from}..${to - 1} were pruned (the tree kept in the database starts at ${firstKept})`);
  }
}

/**
 * Node hashes of a tree whose leaves before `frontier.size` were pruned: the
 * frontier's perfect subtrees stand for them (they are nodes of every larger
 * tree), the kept leaves (from `frontier.size` on) give the rest. Every node an
 * inclusion proof of a kept leaf, or a consistency proof from a size at or
 * after the frontier, needs is one of these or made of them; anything else
 * throws PrunedRangeError.
 */
export function prunedRoot(frontier: Frontier, kept: Buffer[]): RangeRoot {
  const k0 = frontier.size;
  const nodes = new Map<string, Buffer>();
  let at = 0;
  for (let bit = 2 ** 52, i = 0; bit >= 1; bit /= 2) {
    if (Math.floor(k0 / bit) % 2 === 0) continue;
    nodes.set(`${at}:${at + bit}`, frontier.hashes[i++]!);
    at += bit;
  }
  const root: RangeRoot = (from, to) => {
    if (from >= k0) return rootOf(kept, from - k0, to - k0);
    const known = nodes.get(`${from}:${to}`);
    if (known) return known;
    if (to <= k0 || to - from < 2) throw new PrunedRangeError(from, to, k0);
    const k = largestPowerOfTwoBelow(to - from);
    return nodeHash(root(from, from + k), root(from + k, to));
  };
  return root;
}

/** RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `m` in the first `n` leaves. */
export function inclusionProof(leaves: Buffer[] | RangeRoot, m: number, n: number): Buffer[] {
  const mth = typeof leaves === 'function' ? leaves : leavesRoot(leaves);
  const path = (m: number, from: number, to: number): Buffer[] => {
    const size = to - from;
    if (size <= 1) return [];
    const k = largestPowerOfTwoBelow(size);
    if (m < k) return [...path(m, from, from + k), mth(from + k, to)];
    return [...path(m - k, from + k, to), mth(from, from + k)];
  };
  return path(m, 0, n);
}

/** RFC 9162 §2.1.4.1 consistency proof between the trees of the first `m` and `n` leaves. */
export function consistencyProof(leaves: Buffer[] | RangeRoot, m: number, n: number): Buffer[] {
  const mth = typeof leaves === 'function' ? leaves : leavesRoot(leaves);
  const subproof = (m: number, from: number, to: number, complete: boolean): Buffer[] => {
    const size = to - from;
    if (m === size) return complete ? [] : [mth(from, to)];
    const k = largestPowerOfTwoBelow(size);
    if (m <= k) return [...subproof(m, from, from + k, complete), mth(from + k, to)];
    return [...subproof(m - k, from + k, to, false), mth(from, from + k)];
  };
  if (m === 0 || m === n) return [];
  return subproof(m, 0, n, true);
}

/**
 * The leaves of [start, start + size) as the maximal perfect subtrees of the
 * whole tree that lie inside the range, left to right. Verification splits
 * the log into seq ranges hashed in parallel; each range keeps this form, and
 * `joinFrontier` appends it to the frontier of everything before it. Subtrees
 * over power-of-two aligned ranges are nodes of the full tree, so the joined
 * frontier is exactly the one a single pass would have built.
 */
export interface RangeFrontier {
  start: number;
  size: number;
  hashes: Buffer[];
  heights: number[];
}

export function emptyRangeFrontier(start: number): RangeFrontier {
  return { start, size: 0, hashes: [], heights: [] };
}

/** Appends one leaf, merging with its left sibling while the sibling lies inside the range. Mutates `f`. */
export function appendRangeLeaf(f: RangeFrontier, leaf: Buffer): void {
  let h = leaf;
  let height = 0;
  let pos = f.start + f.size; // first leaf of the subtree `h`
  const n = f.hashes.length;
  let top = n;
  // A right child (bit `height` of its position set) whose sibling starts at or after `start`.
  while (top > 0 && Math.floor(pos / 2 ** height) % 2 === 1 && pos - 2 ** height >= f.start) {
    top--;
    h = nodeHash(f.hashes[top]!, h);
    pos -= 2 ** height;
    height++;
  }
  f.hashes.length = top;
  f.heights.length = top;
  f.hashes.push(h);
  f.heights.push(height);
  f.size += 1;
}

/** Appends a perfect subtree of 2^height leaves; `f.size` must be a multiple of 2^height. Mutates `f`. */
export function appendSubtree(f: Frontier, hash: Buffer, height: number): void {
  let h = hash;
  let n = f.size / 2 ** height;
  if (!Number.isInteger(n)) throw new RangeError(`subtree of height ${height} is not aligned at ${f.size}`);
  while (n % 2 === 1) {
    h = nodeHash(f.hashes.pop()!, h);
    n = Math.floor(n / 2);
  }
  f.hashes.push(h);
  f.size += 2 ** height;
}

/** The frontier of `left` followed by the range `right` (which must start where `left` ends), as a new frontier. */
export function joinFrontier(left: Frontier, right: RangeFrontier): Frontier {
  if (right.start !== left.size) throw new RangeError(`range starts at ${right.start}, not at ${left.size}`);
  const out: Frontier = { size: left.size, hashes: [...left.hashes] };
  right.hashes.forEach((h, i) => appendSubtree(out, h, right.heights[i]!));
  return out;
}
