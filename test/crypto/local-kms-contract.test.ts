import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalKms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { kmsContract } from './kms-contract.js';

kmsContract('local key file', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-kms-contract-'));
  return {
    provider: 'local',
    kekId: /^local:[0-9a-f]{16}$/,
    open: async () => createLocalKms({ dataDir, env: 'test', logger: silentLogger }),
    kekOf: (w) => `local:${w.subarray(1, 9).toString('hex')}`,
    close: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});
