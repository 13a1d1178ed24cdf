import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelopeCodec, createKeyring, createLocalKms, type EnvelopeCodec, type SqlDb } from '../src/crypto/index.js';
import { silentLogger } from '../src/kernel/index.js';

/**
 * Just enough of the data_key table, in memory, so the key ring runs without a
 * database: CPU benchmarks of the codec (bench/crypto.ts, bench/update-compare.ts)
 * then measure the cipher and not a round trip.
 */
export function memoryKeyTable(): SqlDb {
  const rows: Record<string, unknown>[] = [];
  const db: SqlDb = {
    async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
      if (sql.trimStart().startsWith('INSERT')) {
        if (rows.length === 0) rows.push({ tenant_id: params[0], purpose: params[1], version: 1, status: 'active', kek_id: params[2], wrapped: params[3] });
        return { rows: [] as R[] };
      }
      return { rows: rows.filter((r) => r.tenant_id === params[0] && r.purpose === params[1]) as R[] };
    },
    transaction: (work) => work(db),
  };
  return db;
}

/**
 * An envelope codec on a throwaway local KMS and the in-memory key table;
 * `close` releases the keys and removes the KMS directory.
 */
export function benchCodec(prefix: string): { codec: EnvelopeCodec; close(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db: memoryKeyTable(), kms });
  return {
    codec: createEnvelopeCodec({ keyring }),
    async close() {
      await keyring.close();
      await kms.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
