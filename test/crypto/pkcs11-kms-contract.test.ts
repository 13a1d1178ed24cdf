import { randomBytes } from 'node:crypto';
import { createPkcs11Kms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { kmsContract } from './kms-contract.js';
import { skipUnlessSoftHsm, softHsm } from './softhsm.js';

const hsm = softHsm();
const token = typeof hsm === 'string' ? undefined : hsm;

kmsContract(
  'PKCS#11 (SoftHSM2)',
  async () => {
    const kekLabel = `haven-contract-${randomBytes(4).toString('hex')}`;
    return {
      provider: 'pkcs11',
      kekId: /^pkcs11:[0-9a-f]{16}$/,
      open: () => createPkcs11Kms({ ...token!, kekLabel, logger: silentLogger }),
      kekOf: (w) => `pkcs11:${w.subarray(2, 2 + (w[1] ?? 0)).toString('hex')}`,
    };
  },
  skipUnlessSoftHsm(hsm),
);
