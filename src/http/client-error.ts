import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { HavenError } from '../kernel/index.js';
import { httpStatusOf, outcomeOf } from './errors.js';

/**
 * Node's HTTP parser refuses a request before any route sees it: a request line and headers
 * over --max-http-header-size (16 KB by default: a GET search with a few hundred ids), bytes
 * that are not HTTP, a request too slow to arrive. Fastify answers those with its own JSON, or
 * nothing; this answers with an OperationOutcome that says what to do instead.
 */
function refusal(parserCode: string | undefined): HavenError {
  if (parserCode === 'HPE_HEADER_OVERFLOW') {
    return new HavenError(
      'too-large',
      'REQUEST_HEADERS_TOO_LARGE',
      'The request line and headers exceed 16 KB; send a long search as POST [type]/_search with the parameters in a form-encoded body',
    );
  }
  if (parserCode === 'ERR_HTTP_REQUEST_TIMEOUT') return new HavenError('incorrect', 'REQUEST_TIMEOUT', 'The request did not arrive in time');
  return new HavenError('incorrect', 'HTTP_MALFORMED', 'The request is not valid HTTP/1.1');
}

/** Fastify's `clientErrorHandler`: answers the parser's refusals with an OperationOutcome, then closes. */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // Nothing to answer on a connection the client already dropped.
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const refused = refusal(err.code);
  const status = httpStatusOf(refused);
  const body = JSON.stringify(outcomeOf(refused.issues));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
