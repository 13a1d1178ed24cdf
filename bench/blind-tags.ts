/**
 * Blind-index tags for the benchmark's plan check (searches.ts). The server
 * searches protected parameters (Patient `family`, `identifier`, …) by HMAC
 * tag (src/search/blind-query.ts); a plan check compiled without the tags
 * EXPLAINs a plaintext lookup the server never runs, and missed that the
 * server's `family=…&birthdate=…` read 60,000 buffers where the plaintext
 * statement read 12. The tags come from the run's own key: the data dir's
 * local KMS key file and the data keys in its database, as the server reads them.
 */
import { loadConfig } from '../src/config/index.js';
import { createBlindIndexer, createBodyEncryption } from '../src/crypto/index.js';
import { DEFAULT_TENANT, silentLogger } from '../src/kernel/index.js';
import { parseProtectedParams, type SearchQuery } from '../src/search/index.js';
import { createDb } from '../src/store/db.js';
import { blindPrepared } from '../src/store/search-blind.js';

export interface QueryBlinder {
  /** The query with protected values replaced by the tenant's tags (unchanged when encryption is off). */
  blind(query: SearchQuery): Promise<SearchQuery>;
  close(): Promise<void>;
}

export async function createQueryBlinder(dataDir: string, databaseUrl: string): Promise<QueryBlinder> {
  const config = loadConfig({ HAVEN_DATA_DIR: dataDir });
  const db = createDb({ connectionString: databaseUrl, maxConnections: 2 });
  const encryption = createBodyEncryption(config, { db, logger: silentLogger });
  await encryption.start();
  const blinding = encryption.keyring
    ? { indexer: createBlindIndexer(encryption.keyring), policy: parseProtectedParams(config.kms.blindIndexParams) }
    : undefined;
  return {
    async blind(query) {
      const { queries } = await blindPrepared(blinding, DEFAULT_TENANT, { queries: [query] });
      return queries[0] ?? query;
    },
    async close() {
      await encryption.close();
      await db.pool.end();
    },
  };
}
