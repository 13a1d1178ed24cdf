import type { Issue } from '../kernel/errors.js';

/** Code system of Haven's stable error codes (docs/errors.md). */
export const HAVEN_ERROR_CODE_SYSTEM = 'https://haven.health/fhir/error-code';

export interface OperationOutcomeIssue {
  severity: Issue['severity'];
  code: Issue['code'];
  details?: { coding: { system: string; code: string }[]; text: string };
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

function toIssue(issue: Issue): OperationOutcomeIssue {
  const out: OperationOutcomeIssue = { severity: issue.severity, code: issue.code };
  // The stable code goes in details (machine-readable); diagnostics stays the human message.
  if (issue.details) out.details = { coding: [{ system: HAVEN_ERROR_CODE_SYSTEM, code: issue.details }], text: issue.details };
  if (issue.diagnostics) out.diagnostics = issue.diagnostics;
  if (issue.expression && issue.expression.length > 0) out.expression = [...issue.expression];
  return out;
}

/** An OperationOutcome for the given issues; with none, a single "all ok" information issue (R4 needs ≥ 1). */
export function operationOutcome(issues: readonly Issue[]): OperationOutcome {
  if (issues.length === 0) {
    return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }] };
  }
  return { resourceType: 'OperationOutcome', issue: issues.map(toIssue) };
}
