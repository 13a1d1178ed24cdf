import type { Socket } from 'node:net';
import { operationOutcome } from '../fhir/operation-outcome.js';

// Node's HTTP parser refuses a request before any route sees it: a request line and headers
// over --max-http-header-size (16 KB by default: a GET search with a few hundred ids), a
// request that is not HTTP, one too slow to arrive. Fastify answers those with its own JSON,
// or nothing; this answers with an OperationOutcome that says what to do instead.
const ANSWERS: Record<string, { status: number; reason: string; code: string; issue: 'too-long' | 'invalid' | 'timeout'; text: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'REQUEST_HEADERS_TOO_LARGE',
    issue: 'too-long',
    text: 'The request line and headers exceed 16 KB; send a long search as POST [type]/_search with the parameters in a form-encoded body',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'REQUEST_TIMEOUT', issue: 'timeout', text: 'The request did not arrive in time' },
};
const MALFORMED = { status: 400, reason: 'Bad Request', code: 'HTTP_MALFORMED', issue: 'invalid' as const, text: 'The request is not valid HTTP/1.1' };

/** Fastify's `clientErrorHandler`: answers the parser's refusals with an OperationOutcome, then closes. */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // Nothing to answer on a connection the client already dropped.
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const a = (err.code !== undefined ? ANSWERS[err.code] : undefined) ?? MALFORMED;
  const body = JSON.stringify(operationOutcome([{ severity: 'error', code: a.issue, details: a.code, diagnostics: a.text }]));
  socket.end(
    `HTTP/1.1 ${a.status} ${a.reason}\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
