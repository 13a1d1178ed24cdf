import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { contextOf, ENVELOPE_OVERHEAD, openEnvelope, parseEnvelopeHeader, sealEnvelope } from '../../src/crypto/index.js';
import { HavenError } from '../../src/kernel/index.js';

// The envelope layout and associated data as docs/security/encryption.md defines them, written
// out independently of the code under test: bytes at rest must keep opening across rewrites.

/** length (4, big-endian) ‖ UTF-8, per part, label first. */
function referenceContext(label: string, parts: (string | number)[]): Buffer {
  return Buffer.concat([label, ...parts.map(String)].flatMap((p) => {
    const b = Buffer.from(p, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return [len, b];
  }));
}

/** format 1 | purpose | key version (4) | nonce (12) | ciphertext | tag (16); AAD = header ‖ context. */
function referenceSeal(key: Buffer, purposeCode: number, version: number, plaintext: Buffer, context: Buffer): Buffer {
  const head = Buffer.from([1, purposeCode, 0, 0, 0, 0]);
  head.writeUInt32BE(version, 2);
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.concat([head, context]));
  return Buffer.concat([head, nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
}

function referenceOpen(key: Buffer, bytes: Buffer, context: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, bytes.subarray(6, 18));
  d.setAAD(Buffer.concat([bytes.subarray(0, 6), context]));
  d.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([d.update(bytes.subarray(18, bytes.length - 16)), d.final()]);
}

test('contextOf: length-prefixed UTF-8 parts, multi-byte text and numbers included', () => {
  const cases: [string, (string | number)[]][] = [
    ['haven/resource/v1', ['default', 'Patient', 'p1', 3]],
    ['haven-audit-entry-v2', ['tenant-é', '0f1e2d3c-aaaa-bbbb-cccc-000000000000']],
    ['x', ['', '日本語', '🩺 emoji', 'lone \ud800 surrogate', 0, 4294967295]],
    ['empty', []],
  ];
  for (const [label, parts] of cases) assert.deepEqual(contextOf(label, parts), referenceContext(label, parts), label);
  assert.notDeepEqual(contextOf('l', ['a|b', 'c']), contextOf('l', ['a', 'b|c']));
});

test('the stored layout holds: envelopes sealed by the reference open, and sealed envelopes open by the reference', () => {
  const key = randomBytes(32);
  const context = contextOf('haven-audit-entry-v2', ['default', 'e1']);
  for (const size of [0, 1, 200, 70_000]) {
    const plain = randomBytes(size);
    const old = referenceSeal(key, 2, 7, plain, context);
    assert.deepEqual(openEnvelope(key, old, context, 'old'), plain);
    const sealed = sealEnvelope(key, { purpose: 'audit', keyVersion: 7 }, plain, context);
    assert.equal(sealed.length, size + ENVELOPE_OVERHEAD);
    assert.deepEqual(parseEnvelopeHeader(sealed, 'new'), { purpose: 'audit', keyVersion: 7 });
    assert.deepEqual(referenceOpen(key, sealed, context), plain);
  }
});

test('every seal draws a fresh nonce; header and context are authenticated', () => {
  const key = randomBytes(32);
  const context = contextOf('c', ['t', 'e']);
  const plain = Buffer.from('{"resources":[{"id":"x"}]}');
  const nonces = new Set<string>();
  for (let i = 0; i < 1000; i++) nonces.add(sealEnvelope(key, { purpose: 'audit', keyVersion: 1 }, plain, context).subarray(6, 18).toString('hex'));
  assert.equal(nonces.size, 1000);
  const sealed = sealEnvelope(key, { purpose: 'audit', keyVersion: 1 }, plain, context);
  const failsWith = (code: string) => (err: unknown) => err instanceof HavenError && err.code === code;
  assert.throws(() => openEnvelope(key, sealed, contextOf('c', ['t', 'other']), 'x'), failsWith('CRYPTO_DECRYPT_FAILED'));
  const otherVersion = Buffer.from(sealed);
  otherVersion.writeUInt32BE(2, 2);
  assert.throws(() => openEnvelope(key, otherVersion, context, 'x'), failsWith('CRYPTO_DECRYPT_FAILED'));
  const otherPurpose = Buffer.from(sealed);
  otherPurpose[1] = 1;
  assert.throws(() => openEnvelope(key, otherPurpose, context, 'x'), failsWith('CRYPTO_DECRYPT_FAILED'));
  otherPurpose[1] = 99;
  assert.throws(() => openEnvelope(key, otherPurpose, context, 'x'), failsWith('CRYPTO_CIPHERTEXT_INVALID'));
});

test('a label given as a function is built only when an error names it', () => {
  const key = randomBytes(32);
  const context = contextOf('c', ['t']);
  const sealed = sealEnvelope(key, { purpose: 'resources', keyVersion: 1 }, Buffer.from('{}'), context);
  let built = 0;
  const where = () => (built++, 'Resource Patient/p1/_history/1');
  assert.deepEqual(openEnvelope(key, sealed, context, where), Buffer.from('{}'));
  parseEnvelopeHeader(sealed, where);
  assert.equal(built, 0);
  assert.throws(() => openEnvelope(randomBytes(32), sealed, context, where), (err: unknown) => err instanceof HavenError && err.message.startsWith('Resource Patient/p1/_history/1:'));
  assert.throws(() => parseEnvelopeHeader(sealed.subarray(0, 10), where), (err: unknown) => err instanceof HavenError && err.code === 'CRYPTO_CIPHERTEXT_INVALID' && err.message.startsWith('Resource Patient/p1'));
  assert.equal(built, 2);
});
