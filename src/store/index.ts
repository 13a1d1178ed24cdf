export { createDb, translateDbError, type Db, type Queryable, type NamedSql, type DbOptions } from './db.js';
export { migrate } from './migrate.js';
export { createEmbeddedPostgres, type EmbeddedPostgres, HAVEN_DATABASE } from './embedded/server.js';
export { createIndexWriter, type IndexWriter, type IndexValueTransform } from './index-writer.js';
export { plaintextCodec, type BodyCodec, type RowIdentity } from './body-codec.js';
export { emptyHooks, type FhirResource, type StoredResource, type WriteOperation, type WriteResult, type StoreHooks } from './model.js';
export { createResourceStore, type ResourceStore, type StoreTransaction, type ResourceReader, type CompiledQuery } from './resource-store.js';
export type { HistoryQuery, HistoryPage } from './history.js';
export { analyzeStaleTables, startMaintenance } from './maintenance.js';
