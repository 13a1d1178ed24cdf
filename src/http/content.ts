import type { FastifyInstance } from 'fastify';
import { HavenError } from '../kernel/index.js';

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json-patch+json', 'application/merge-patch+json'];

/** `\u0000` as a JSON escape: preceded by an even number of backslashes (an odd one would escape its `\`). */
const ESCAPED_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/**
 * U+0000 is refused at the door: PostgreSQL text cannot hold it, so it would fail deep in a write
 * or a query (a 500) instead of here, with a reason.
 */
function nulRefused(where: string): HavenError {
  return new HavenError('incorrect', 'BODY_NUL_CHARACTER', `The request holds the character U+0000 (NUL) in ${where}; no value Haven stores or searches may contain it`);
}

/**
 * Body parsers: FHIR JSON (and plain JSON / JSON Patch) parsed once here;
 * form bodies for POST _search. Malformed input is a precise 400.
 */
export function registerContentParsers(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    if (text.includes('\\u0000') && ESCAPED_NUL.test(text)) return done(nulRefused('a JSON string'), undefined);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (err) {
      const detail = err instanceof SyntaxError ? err.message.replace(/"[^"]*"/g, '…') : 'invalid JSON';
      done(new HavenError('incorrect', 'BODY_MALFORMED_JSON', `The request body is not valid JSON (${detail})`), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const form: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))) {
      if (k.includes('\u0000') || v.includes('\u0000')) return done(nulRefused('a form field'), undefined);
      (form[k] ??= []).push(v);
    }
    done(null, form);
  });
  app.addContentTypeParser(['application/fhir+xml', 'application/xml', 'text/xml'], (_req, _payload, done) => {
    done(new HavenError('unsupported', 'UNSUPPORTED_MEDIA_TYPE', 'Haven accepts FHIR JSON only (application/fhir+json)'), undefined);
  });
  app.addContentTypeParser('*', (_req, _payload, done) => {
    done(new HavenError('unsupported', 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type; use application/fhir+json'), undefined);
  });
}

/** Checks _format and Accept: Haven answers JSON only. */
export function checkAcceptable(accept: string | undefined, format: string | undefined): void {
  if (format !== undefined && !/json/.test(format)) {
    throw new HavenError('unsupported', 'NOT_ACCEPTABLE', `_format ${format} is not supported; Haven answers application/fhir+json`);
  }
  if (accept && !/(\*\/\*|json|application\/\*)/.test(accept) && /xml|turtle/.test(accept)) {
    throw new HavenError('unsupported', 'NOT_ACCEPTABLE', 'Haven answers application/fhir+json only');
  }
}
