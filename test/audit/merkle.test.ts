import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { appendLeaf, consistencyProof, emptyFrontier, frontierRoot, inclusionProof, leafHash, nodeHash, prunedRoot, PrunedRangeError, rootOf } from '../../src/audit/merkle.js';
import { verifyConsistency, verifyInclusion } from '../../src/audit/proof-verify.js';
import { canonicalJson } from '../../src/audit/canonical.js';

const leaves = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));

test('leaf and node hashes follow RFC 9162 §2.1.1 (domain-separated SHA-256)', () => {
  const expected = createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from('abc')])).digest();
  assert.deepEqual(leafHash(Buffer.from('abc')), expected);
  const node = createHash('sha256').update(Buffer.concat([Buffer.from([1]), leaves[0]!, leaves[1]!])).digest();
  assert.deepEqual(rootOf(leaves.slice(0, 2)), node);
  assert.equal(rootOf([]).toString('hex'), createHash('sha256').digest('hex'));
});

test('nodeHash is SHA-256(0x01 ‖ left ‖ right) for hashes and other lengths, and its results stay their own', () => {
  const rfc = (l: Uint8Array, r: Uint8Array) => createHash('sha256').update(Buffer.concat([Buffer.from([1]), l, r])).digest();
  const a = nodeHash(leaves[0]!, leaves[1]!);
  const b = nodeHash(leaves[2]!, leaves[3]!.subarray(0, 32));
  assert.deepEqual(a, rfc(leaves[0]!, leaves[1]!), 'a later call does not change an earlier result');
  assert.deepEqual(b, rfc(leaves[2]!, leaves[3]!));
  assert.deepEqual(nodeHash(Buffer.from('ab'), leaves[4]!), rfc(Buffer.from('ab'), leaves[4]!));
  assert.deepEqual(nodeHash(leaves[4]!, Buffer.alloc(33, 7)), rfc(leaves[4]!, Buffer.alloc(33, 7)));
});

test('the incremental frontier gives the RFC root at every size', () => {
  const f = emptyFrontier();
  for (let n = 1; n <= leaves.length; n++) {
    appendLeaf(f, leaves[n - 1]!);
    assert.deepEqual(frontierRoot(f), rootOf(leaves.slice(0, n)), `size ${n}`);
  }
});

test('inclusion proofs verify with the RFC 9162 §2.1.3.2 algorithm, and wrong ones do not', () => {
  for (let n = 1; n <= 33; n++) {
    const root = rootOf(leaves.slice(0, n));
    for (let m = 0; m < n; m++) {
      const proof = inclusionProof(leaves, m, n);
      assert.ok(verifyInclusion(leaves[m]!, m, n, proof, root), `m=${m} n=${n}`);
      assert.ok(!verifyInclusion(leafHash(Buffer.from('other')), m, n, proof, root), `wrong leaf m=${m} n=${n}`);
      if (n > 1) assert.ok(!verifyInclusion(leaves[m]!, (m + 1) % n, n, proof, root), `wrong index m=${m} n=${n}`);
    }
  }
});

test('consistency proofs verify with the RFC 9162 §2.1.4.2 algorithm, and forged trees fail', () => {
  for (let n = 1; n <= 33; n++) {
    for (let m = 1; m <= n; m++) {
      const proof = consistencyProof(leaves, m, n);
      const r1 = rootOf(leaves.slice(0, m));
      const r2 = rootOf(leaves.slice(0, n));
      assert.ok(verifyConsistency(m, n, proof, r1, r2), `m=${m} n=${n}`);
      if (m < n) {
        const forged = [...leaves.slice(0, n)];
        forged[m - 1] = leafHash(Buffer.from('forged'));
        assert.ok(!verifyConsistency(m, n, proof, r1, rootOf(forged)), `forged m=${m} n=${n}`);
      }
    }
  }
});

test('canonical JSON sorts keys at every level and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: null }], c: undefined } }), '{"a":{"d":[2,{"y":null,"z":1}]},"b":1}');
});

test('after a prune, the frontier at the first kept leaf stands for the pruned ones: the same inclusion and consistency proofs', () => {
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  for (let kept = 1; kept < 70; kept += 3) {
    const frontier = emptyFrontier();
    for (const l of leaves.slice(0, kept)) appendLeaf(frontier, l);
    const mth = prunedRoot(frontier, leaves.slice(kept));
    for (let n = kept; n <= 70; n += 5) {
      for (let m = kept; m < n; m++) assert.deepEqual(inclusionProof(mth, m, n), inclusionProof(leaves, m, n), `inclusion of ${m} in ${n}, kept from ${kept}`);
      for (let m = kept; m <= n; m++) assert.deepEqual(consistencyProof(mth, m, n), consistencyProof(leaves, m, n), `consistency ${m}→${n}, kept from ${kept}`);
    }
    // A proof that needs a pruned subtree which is not one of the frontier's cannot be made.
    if (kept > 1) assert.throws(() => inclusionProof(mth, 0, 70), PrunedRangeError);
  }
});
