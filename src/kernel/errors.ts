/**
 * One error type for the whole program. Every expected failure carries a
 * category (what kind of failure, which decides the HTTP status / HL7 NAK once,
 * at the edge) and a stable code (documented in docs/errors.md).
 * Anything thrown that is not a HavenError is a fault: logged, never echoed.
 */
export type ErrorCategory =
  | 'incorrect' // the request is wrong: 400
  | 'unauthenticated' // no or bad credentials: 401
  | 'forbidden' // authenticated but not allowed: 403
  | 'not-found' // 404
  | 'gone' // deleted: 410
  | 'unsupported' // method or feature not supported: 405/501 per code
  | 'conflict' // version conflict / duplicate: 409
  | 'precondition' // If-Match / conditional failure: 412
  | 'too-large' // 413
  | 'unprocessable' // valid syntax, invalid content (validation): 422
  | 'busy' // rate limited: 429
  | 'unavailable' // dependency down (database, audit): 503
  | 'fault'; // bug: 500

/** FHIR IssueType codes (subset we use). */
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'not-found'
  | 'deleted'
  | 'not-supported'
  | 'duplicate'
  | 'multiple-matches'
  | 'conflict'
  | 'too-costly'
  | 'business-rule'
  | 'processing'
  | 'exception'
  | 'transient'
  | 'throttled'
  | 'informational'
  | 'code-invalid'
  | 'extension'
  | 'too-long'
  | 'incomplete';

export type Severity = 'fatal' | 'error' | 'warning' | 'information';

/** One problem, shaped like an OperationOutcome.issue. */
export interface Issue {
  severity: Severity;
  code: IssueCode;
  diagnostics: string;
  /** FHIRPath expressions locating the problem. */
  expression?: string[];
  /** Stable Haven code, e.g. SEARCH_UNKNOWN_PARAM. */
  details?: string;
}

export interface HavenErrorOptions {
  expression?: string[];
  issues?: Issue[];
  cause?: unknown;
  /** Extra HTTP headers to send with the error (e.g. WWW-Authenticate). */
  headers?: Record<string, string>;
}

const defaultIssueCode: Record<ErrorCategory, IssueCode> = {
  incorrect: 'invalid',
  unauthenticated: 'login',
  forbidden: 'forbidden',
  'not-found': 'not-found',
  gone: 'deleted',
  unsupported: 'not-supported',
  conflict: 'conflict',
  precondition: 'conflict',
  'too-large': 'too-costly',
  unprocessable: 'processing',
  busy: 'throttled',
  unavailable: 'transient',
  fault: 'exception',
};

export class HavenError extends Error {
  readonly category: ErrorCategory;
  readonly code: string;
  readonly issues: Issue[];
  readonly headers: Record<string, string>;

  constructor(category: ErrorCategory, code: string, message: string, options: HavenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HavenError';
    this.category = category;
    this.code = code;
    this.headers = options.headers ?? {};
    this.issues = options.issues ?? [
      {
        severity: category === 'fault' ? 'fatal' : 'error',
        code: defaultIssueCode[category],
        diagnostics: message,
        details: code,
        ...(options.expression ? { expression: options.expression } : {}),
      },
    ];
  }
}

export function isHavenError(err: unknown): err is HavenError {
  return err instanceof HavenError;
}
