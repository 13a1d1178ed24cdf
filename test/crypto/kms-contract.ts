import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dekContext, type Kms } from '../../src/crypto/index.js';
import { HavenError } from '../../src/kernel/index.js';
import type { FakeHttp, FakeReply } from './fakes/fake-http.js';

/**
 * The one suite every KMS adapter passes (STYLE: several implementations
 * behind one interface, one shared test suite). Cloud adapters run it against
 * local fakes of their vendor's documented HTTP API; `fake` enables the
 * outage, timeout and throttling cases.
 */
export interface KmsContractTarget {
  provider: string;
  kekId: RegExp;
  /** A fresh adapter on the same backend, as a new process would make it. */
  open(): Promise<Kms>;
  /** The KEK a wrapped DEK names, in describe().kekId form. */
  kekOf(wrapped: Buffer): string;
  /** After a committed rotation: what the operator does before the next start, if anything. */
  afterRotation?(newKekId: string): void;
  fake?: FakeHttp;
  /** The adapter's retries setting (attempts = retries + 1) and per-attempt timeout. */
  http?: { retries: number; timeoutMs: number };
  /** The vendor's throttling answer, which must be retried. */
  throttle?: FakeReply;
  /** Creating or using this adapter must fail with KMS_ACCESS_DENIED. */
  badCredentials?(): Promise<Kms>;
  close?(): Promise<void>;
}

const isCode = (code: string) => (e: unknown) => e instanceof HavenError && e.code === code;

export function kmsContract(name: string, makeTarget: () => Promise<KmsContractTarget>, options: { skip?: string } = {}): void {
  describe(`KMS contract: ${name}`, options, () => {
    let t: KmsContractTarget;
    let kms: Kms;
    const context = dekContext('default', 'resources');
    before(async () => {
      t = await makeTarget();
      kms = await t.open();
    });
    after(async () => {
      await kms?.close();
      await t?.close?.();
    });

    test('wraps and unwraps a DEK; describe() names the provider and the KEK', async () => {
      const dek = randomBytes(32);
      const wrapped = await kms.wrap(dek, context);
      assert.ok(!wrapped.includes(dek), 'the wrapped DEK does not contain the DEK');
      assert.deepEqual(await kms.unwrap(wrapped, context), dek);
      assert.notDeepEqual(await kms.wrap(dek, context), wrapped, 'every wrap is fresh');
      const d = kms.describe();
      assert.equal(d.provider, t.provider);
      assert.match(d.kekId, t.kekId);
      assert.equal(t.kekOf(wrapped), d.kekId);
    });

    test('a wrapped DEK moved to another tenant or purpose does not unwrap', async () => {
      const wrapped = await kms.wrap(randomBytes(32), context);
      for (const other of [dekContext('other', 'resources'), dekContext('default', 'audit')]) {
        await assert.rejects(kms.unwrap(wrapped, other), isCode('KMS_UNWRAP_FAILED'));
      }
    });

    test('a damaged or truncated wrapped DEK is refused, never unwrapped to other bytes', async () => {
      const wrapped = await kms.wrap(randomBytes(32), context);
      const flipped = Buffer.from(wrapped);
      flipped[flipped.length - 1]! ^= 1;
      await assert.rejects(kms.unwrap(flipped, context), isCode('KMS_UNWRAP_FAILED'));
      await assert.rejects(kms.unwrap(wrapped.subarray(0, wrapped.length - 8), context), isCode('KMS_UNWRAP_FAILED'));
      const format = Buffer.from(wrapped);
      format[0]! ^= 0xff;
      await assert.rejects(kms.unwrap(format, context), isCode('KMS_UNWRAP_FAILED'));
    });

    test('KEK rotation: new wraps use the new KEK, old wraps stay readable, a new process uses the new KEK', async () => {
      const dek = randomBytes(32);
      const old = await kms.wrap(dek, context);
      const oldKek = kms.describe().kekId;
      const rotation = await kms.beginRotation();
      assert.notEqual(rotation.kekId, oldKek);
      assert.match(rotation.kekId, t.kekId);
      const rewrapped = await rotation.wrap(dek, context);
      assert.equal(t.kekOf(rewrapped), rotation.kekId);
      assert.equal(t.kekOf(await kms.wrap(dek, context)), oldKek, 'until commit, wrap keeps the old KEK');
      await rotation.commit();
      assert.equal(kms.describe().kekId, rotation.kekId);
      assert.equal(t.kekOf(await kms.wrap(dek, context)), rotation.kekId);
      assert.deepEqual(await kms.unwrap(old, context), dek, 'the retired KEK still unwraps (old backups)');
      assert.deepEqual(await kms.unwrap(rewrapped, context), dek);
      t.afterRotation?.(rotation.kekId);
      const fresh = await t.open();
      try {
        assert.equal(fresh.describe().kekId, rotation.kekId);
        assert.deepEqual(await fresh.unwrap(old, context), dek);
      } finally {
        await fresh.close();
      }
    });

    test('outage: the KMS fails closed with KMS_UNAVAILABLE after bounded retries, and recovers', async (c) => {
      if (!t.fake || !t.http) return c.skip('no fake service to take down');
      const wrapped = await kms.wrap(randomBytes(32), context);
      t.fake.outage = { reply: { status: 503, json: { message: 'Service Unavailable' } } };
      try {
        const before = t.fake.calls;
        await assert.rejects(kms.wrap(randomBytes(32), context), isCode('KMS_UNAVAILABLE'));
        assert.equal(t.fake.calls - before, t.http.retries + 1, 'bounded retries');
        await assert.rejects(kms.unwrap(wrapped, context), isCode('KMS_UNAVAILABLE'));
      } finally {
        t.fake.outage = undefined;
      }
      assert.equal((await kms.unwrap(wrapped, context)).length, 32);
    });

    test('a KMS that stops answering times out into KMS_UNAVAILABLE', async (c) => {
      if (!t.fake || !t.http) return c.skip('no fake service');
      t.fake.outage = { hang: true };
      const started = Date.now();
      try {
        await assert.rejects(kms.wrap(randomBytes(32), context), isCode('KMS_UNAVAILABLE'));
      } finally {
        t.fake.outage = undefined;
      }
      const bound = (t.http.retries + 1) * t.http.timeoutMs + 2000;
      assert.ok(Date.now() - started < bound, `gave up within ${bound} ms`);
    });

    test('throttling is retried with backoff and the call succeeds', async (c) => {
      if (!t.fake || !t.throttle) return c.skip('no fake service');
      t.fake.failNext(2, { reply: t.throttle });
      const dek = randomBytes(32);
      const wrapped = await kms.wrap(dek, context);
      assert.deepEqual(await kms.unwrap(wrapped, context), dek);
    });

    test('bad credentials are refused with KMS_ACCESS_DENIED', async (c) => {
      if (!t.badCredentials) return c.skip('no credentials to get wrong');
      const calls = t.fake?.calls ?? 0;
      await assert.rejects(async () => {
        const bad = await t.badCredentials!();
        try {
          await bad.wrap(randomBytes(32), context);
        } finally {
          await bad.close();
        }
      }, isCode('KMS_ACCESS_DENIED'));
      if (t.fake) assert.ok(t.fake.calls - calls <= 2, 'a refusal is not retried');
    });
  });
}
