import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, verifyPassword } from '../../src/auth/index.js';
import { currentTotp } from '../../src/auth/index.js';
import { newTotpSecret, verifyTotp } from '../../src/auth/totp.js';

describe('password hashes (scrypt)', () => {
  it('verifies the right password only, with a per-password salt and the parameters in the string', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    assert.notEqual(a, b, 'salted');
    assert.match(a, /^scrypt\$65536\$8\$2\$[\w-]{22}\$[\w-]{43}$/);
    assert.equal(await verifyPassword('correct horse battery staple', a), true);
    assert.equal(await verifyPassword('correct horse battery stapl', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  it('honours the parameters stored in an older hash, and never verifies a malformed one', async () => {
    const cheap = await hashPassword('another passphrase', { N: 1024, r: 8, p: 1 });
    assert.match(cheap, /^scrypt\$1024\$8\$1\$/);
    assert.equal(await verifyPassword('another passphrase', cheap), true);
    assert.equal(await verifyPassword('another passphrase', cheap.replace('scrypt', 'bcrypt')), false);
    assert.equal(await verifyPassword('another passphrase', 'scrypt$0$8$1$x$y'), false);
  });

  it('normalises Unicode, so the same password typed on another keyboard still verifies', async () => {
    const h = await hashPassword('caf\u00e9 au lait', { N: 1024, r: 8, p: 1 });
    assert.equal(await verifyPassword('cafe\u0301 au lait', h), true);
  });
});

describe('TOTP', () => {
  it('accepts the current code and one step of drift, and names the step', () => {
    const secret = newTotpSecret();
    const now = new Date('2026-01-01T00:00:10Z');
    const step = Math.floor(now.getTime() / 30_000);
    assert.equal(verifyTotp(secret, currentTotp(secret, now), now), step);
    assert.equal(verifyTotp(secret, currentTotp(secret, new Date(now.getTime() - 30_000)), now), step - 1);
    assert.equal(verifyTotp(secret, currentTotp(secret, new Date(now.getTime() - 90_000)), now), undefined);
    assert.equal(verifyTotp(secret, 'abcdef', now), undefined);
  });
});
