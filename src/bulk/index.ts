/**
 * Bulk Data Access 2.0 export: kick-off planning, the durable export queue's
 * workers, encrypted NDJSON files, status/manifest, cancel and expiry
 * (docs/bulk.md).
 */
export { createBulkService, type BulkService } from './service.js';
export type { BulkDeps } from './deps.js';
export type { BulkReply } from './status.js';
export type { BulkSettings } from './model.js';
export { parseKickoff, parametersPairs, parseInstant, type ExportLevel, type KickoffInput } from './params.js';
export type { ChunkSqlContext } from './export-conditions.js';
