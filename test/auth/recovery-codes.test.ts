import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRecoveryCode, newRecoveryCode, normaliseRecoveryCode } from '../../src/auth/recovery-codes.js';

describe('recovery code format', () => {
  it('codes are 16 characters of lower-case Crockford base32, shown in groups of four', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const code = newRecoveryCode();
      assert.match(code, /^[0-9a-hjkmnp-tv-z]{16}$/);
      seen.add(code);
    }
    assert.equal(seen.size, 200, 'random');
    assert.equal(formatRecoveryCode('abcdefghjkmnpqrs'), 'abcd-efgh-jkmn-pqrs');
  });

  it('typing is forgiving about case, dashes, spaces and look-alike letters, and nothing else', () => {
    assert.equal(normaliseRecoveryCode('ABCD-EFGH-JKMN-PQRS'), 'abcdefghjkmnpqrs');
    assert.equal(normaliseRecoveryCode(' abcd efgh jkmn pqrs '), 'abcdefghjkmnpqrs');
    assert.equal(normaliseRecoveryCode('IL0O-0000-0000-0000'), '1100000000000000', 'i and l read as 1, o as 0');
    assert.equal(normaliseRecoveryCode('abcd-efgh-jkmn-pqr'), undefined, 'too short');
    assert.equal(normaliseRecoveryCode('abcd-efgh-jkmn-pqrst'), undefined, 'too long');
    assert.equal(normaliseRecoveryCode('abcd-efgh-jkmn-pqru'), undefined, 'u is not in the alphabet');
    assert.equal(normaliseRecoveryCode('123456'), undefined, 'a TOTP code is not a recovery code');
  });
});
