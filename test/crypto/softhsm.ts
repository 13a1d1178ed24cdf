import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requiredHere } from '../support/ci.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * A SoftHSM2 token for the PKCS#11 tests. CI (.ci/run) initialises one and
 * exports SOFTHSM2_CONF + PKCS11_TEST_*; locally, when softhsm2 is installed,
 * a throwaway token is made here. Without the library the tests skip, except
 * with HAVEN_REQUIRE_SOFTHSM=1 (set by .ci/run) or CI=true, where they fail instead.
 */
export interface SoftHsm {
  library: string;
  tokenLabel: string;
  pin: string;
}

const candidates = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];

export function softHsm(): SoftHsm | string {
  const given = process.env.PKCS11_TEST_LIBRARY;
  if (given && process.env.SOFTHSM2_CONF && process.env.PKCS11_TEST_TOKEN_LABEL && process.env.PKCS11_TEST_PIN) {
    return { library: given, tokenLabel: process.env.PKCS11_TEST_TOKEN_LABEL, pin: process.env.PKCS11_TEST_PIN };
  }
  const library = candidates.find((c) => existsSync(c));
  if (!library) return `SoftHSM2 not installed (no libsofthsm2.so; apt-get install softhsm2)`;
  // Removed when the test process exits: the token is made per test file.
  const dir = tempDir('haven-softhsm-');
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  const token = { library, tokenLabel: 'haven-test', pin: '1234' };
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', token.tokenLabel, '--pin', token.pin, '--so-pin', '5678'], { stdio: 'ignore' });
  } catch (err) {
    return `softhsm2-util could not initialise a token: ${(err as Error).message}`;
  }
  return token;
}

/** The skip option for node:test, or a hard failure when CI requires SoftHSM. */
export function skipUnlessSoftHsm(hsm: SoftHsm | string): { skip?: string } {
  if (typeof hsm !== 'string') return {};
  if (requiredHere('HAVEN_REQUIRE_SOFTHSM')) throw new Error(`HAVEN_REQUIRE_SOFTHSM=1 or CI=true, but ${hsm}`);
  return { skip: hsm };
}
