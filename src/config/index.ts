export { configSchema, type HavenConfig } from './schema.js';
export { loadConfig, envMap } from './load.js';
