import { HavenError, isHavenError, type ErrorCategory, type Issue, type Logger } from '../kernel/index.js';

/** The one place error categories become HTTP statuses. */
const statusOf: Record<ErrorCategory, number> = {
  incorrect: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  gone: 410,
  unsupported: 405,
  conflict: 409,
  precondition: 412,
  'too-large': 413,
  unprocessable: 422,
  busy: 429,
  unavailable: 503,
  fault: 500,
};

// Codes that need a more specific status than their category's.
const statusOverride: Record<string, number> = {
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_ACCEPTABLE: 406,
  NOT_IMPLEMENTED: 501,
  REQUEST_HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
};

/** The HTTP status a HavenError is answered with. */
export function httpStatusOf(err: HavenError): number {
  return statusOverride[err.code] ?? statusOf[err.category];
}

export interface HttpError {
  status: number;
  headers: Record<string, string>;
  outcome: { resourceType: 'OperationOutcome'; issue: object[] };
}

export function issueToFhir(issue: Issue): object {
  return {
    severity: issue.severity,
    code: issue.code,
    ...(issue.details ? { details: { coding: [{ system: 'https://haven.health/fhir/CodeSystem/error', code: issue.details }] } } : {}),
    diagnostics: issue.diagnostics,
    ...(issue.expression ? { expression: issue.expression } : {}),
  };
}

export function outcomeOf(issues: Issue[]) {
  return { resourceType: 'OperationOutcome' as const, issue: issues.map(issueToFhir) };
}

/**
 * Translates anything thrown into a response. Unknown errors are faults: logged
 * with their stack (never resource contents), answered with a generic 500.
 */
export function toHttpError(err: unknown, logger: Logger, requestId: string): HttpError {
  if (isHavenError(err)) {
    if (err.category === 'fault' || err.category === 'unavailable') {
      logger.error({ requestId, code: err.code, cause: describeCause(err.cause) }, err.message);
    }
    return {
      status: httpStatusOf(err),
      headers: err.category === 'unavailable' ? { 'Retry-After': '1', ...err.headers } : err.headers,
      outcome: outcomeOf(err.issues),
    };
  }
  logger.error({ requestId, err: describeCause(err) }, 'unhandled error');
  const fault = new HavenError('fault', 'INTERNAL_ERROR', `Internal error; quote request id ${requestId} to the operator`);
  return { status: 500, headers: {}, outcome: outcomeOf(fault.issues) };
}

/** Error name, code and stack only: driver messages can quote SQL parameters (PHI). */
function describeCause(err: unknown): object | undefined {
  if (!(err instanceof Error)) return err === undefined ? undefined : { type: typeof err };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, code, stack: err.stack?.split('\n').slice(1, 8).join('\n') };
}
