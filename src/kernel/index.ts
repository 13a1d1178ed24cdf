export * from './errors.js';
export * from './ids.js';
export * from './clock.js';
export * from './logger.js';
export * from './context.js';
