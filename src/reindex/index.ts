export { createReindexService, type ReindexService } from './service.js';
export { reindexQueue, type ReindexDeps, type ReindexProgress, type ReindexSettings, type ReindexJob } from './model.js';
