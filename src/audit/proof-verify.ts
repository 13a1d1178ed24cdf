import { leafHash, nodeHash } from './merkle.js';

/**
 * Proof checkers exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 state them, so a
 * third party can re-implement them from the RFC alone: they use nothing of
 * Haven except the two hash functions of §2.1.1.
 */

/** RFC 9162 §2.1.3.2: does `leaf` sit at `leafIndex` in the tree of `treeSize` leaves with `root`? */
export function verifyInclusion(leaf: Buffer, leafIndex: number, treeSize: number, proof: Buffer[], root: Buffer): boolean {
  if (leafIndex >= treeSize) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** The same, starting from the entry's canonical bytes. */
export function verifyEntryInclusion(entry: Uint8Array, leafIndex: number, treeSize: number, proof: Buffer[], root: Buffer): boolean {
  return verifyInclusion(leafHash(entry), leafIndex, treeSize, proof, root);
}

/** RFC 9162 §2.1.4.2: is the tree (`size2`, `root2`) an append-only extension of (`size1`, `root1`)? */
export function verifyConsistency(size1: number, size2: number, proof: Buffer[], root1: Buffer, root2: Buffer): boolean {
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}

function isPowerOfTwo(n: number): boolean {
  // Arithmetic, not bitwise: sizes may exceed 2^31.
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}
