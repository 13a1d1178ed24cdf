import { pino } from 'pino';
import type { Logger } from '../kernel/index.js';

/**
 * Structured JSON logs. Redaction is a second line of defence: callers log
 * ids, types and counts only, never resource contents, search values or tokens.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'haven' },
    redact: {
      paths: ['authorization', 'headers.authorization', 'token', 'access_token', 'client_assertion', 'body', 'resource', 'query', '*.authorization'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  }) as unknown as Logger;
}
