import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import type { Issue } from '../../kernel/errors.js';
import type { ConstraintDef, ElementModel } from './model.js';
import { proofFor } from './invariant-proofs.js';

/** An invariant the engine does not evaluate, and why. */
export interface SkippedInvariant {
  key: string;
  path: string;
  reason: string;
}

/** Resources an invariant may refer to through %resource / %rootResource. */
export interface InvariantScope {
  resource: unknown;
  rootResource: unknown;
}

type Evaluator = (node: unknown, env: Record<string, unknown>) => unknown[];

interface Compiled {
  def: ConstraintDef;
  run: Evaluator;
  /** Decides natively that the invariant holds (src/fhir/validation/invariant-proofs.ts); FHIRPath otherwise. */
  proof?: (node: Record<string, unknown>) => boolean;
}

/** Checked natively by the walker: they hold on every element, so FHIRPath would dominate the cost. */
const NATIVE = new Set(['ele-1', 'ext-1', 'dom-2', 'dom-3', 'dom-4', 'dom-5', 'ref-1']);

/** Invariants fhirpath.js cannot evaluate faithfully. */
const KNOWN_UNSUPPORTED: Record<string, string> = {
  'txt-1': 'htmlChecks() is not implemented by fhirpath.js; XHTML content rules are not checked',
  'txt-2': 'htmlChecks() is not implemented by fhirpath.js; XHTML content rules are not checked',
};

/**
 * Corrected expressions for core invariants fhirpath.js misreads. que-7 tests
 * `answer is Boolean` (System.Boolean); fhirpath.js types answerBoolean as
 * FHIR.boolean and answers false, so the FHIR type name is used instead.
 */
const EXPRESSION_FIXES: Record<string, string> = {
  'que-7': "operator = 'exists' implies (answer is boolean)",
};

/**
 * resolve() would need the referenced resource (fhirpath.js refuses it without
 * an asynchronous resolver, on every input); validation does not fetch
 * references, so such invariants (ctm-1 in R4 core) are listed as skipped
 * when compiled rather than failing at each evaluation.
 */
const NEEDS_RESOLVE = /\bresolve\(\)/;

/** The first line of what an evaluation threw: fhirpath.js may throw values that are not Errors. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}

const UCUM = 'http://unitsofmeasure.org';
// trace() in core invariants (ref-1, dom-3, que-1) would otherwise print to stdout.
const COMPILE_OPTIONS = { traceFn: (): void => undefined };

export function createInvariantEngine(): {
  check(el: ElementModel, node: unknown, scope: InvariantScope, expr: string, issues: Issue[]): void;
  skipped(): SkippedInvariant[];
  /** How many invariant evaluations went to FHIRPath (the rest were proved natively), for tests and benches. */
  fhirpathRuns(): number;
} {
  const compiled = new WeakMap<ElementModel, Compiled[]>();
  const skipped = new Map<string, SkippedInvariant>();
  let fhirpathRuns = 0;
  // Narrative.div is primitive (xhtml), whose invariants are never compiled, so list these up front.
  for (const [key, reason] of Object.entries(KNOWN_UNSUPPORTED)) skipped.set(`Narrative.div#${key}`, { key, path: 'Narrative.div', reason });

  function skip(key: string, path: string, reason: string): void {
    skipped.set(`${path}#${key}`, { key, path, reason });
  }

  function compileFor(el: ElementModel): Compiled[] {
    const out: Compiled[] = [];
    for (const def of el.constraints) {
      if (NATIVE.has(def.key)) continue;
      const known = KNOWN_UNSUPPORTED[def.key];
      if (known) {
        skip(def.key, el.path, known);
        continue;
      }
      if (NEEDS_RESOLVE.test(def.expression)) {
        skip(def.key, el.path, 'uses resolve(), which needs the referenced resource; validation does not fetch references');
        continue;
      }
      try {
        const fixed = EXPRESSION_FIXES[def.key];
        const run = fhirpath.compile({ base: el.path, expression: fixed ?? def.expression }, r4Model, COMPILE_OPTIONS) as unknown as Evaluator;
        const proof = fixed === undefined ? proofFor(def.key, def.expression) : undefined;
        out.push(proof ? { def, run, proof } : { def, run });
      } catch (err) {
        skip(def.key, el.path, `does not compile: ${firstLine(err)}`);
      }
    }
    return out;
  }

  function check(el: ElementModel, node: unknown, scope: InvariantScope, expr: string, issues: Issue[]): void {
    let list = compiled.get(el);
    if (!list) {
      list = compileFor(el);
      compiled.set(el, list);
    }
    for (const c of list) {
      if (c.proof && typeof node === 'object' && node !== null && !Array.isArray(node) && c.proof(node as Record<string, unknown>)) continue;
      let result: unknown[];
      fhirpathRuns++;
      try {
        result = c.run(node, { resource: scope.resource, rootResource: scope.rootResource, ucum: UCUM });
      } catch (err) {
        // Data-dependent (fhirpath.js throws, e.g., comparing a Quantity that has a unit but no value): this
        // resource gets a warning and the invariant stays on. Switching it off for the process, as before,
        // let one crafted resource exempt every later one from the rule.
        issues.push({
          severity: 'warning',
          code: 'processing',
          diagnostics: `Constraint ${c.def.key} could not be evaluated on this element: ${firstLine(err)}`,
          expression: [expr],
          details: c.def.key,
        });
        continue;
      }
      // Only a false result is a violation: an empty result means the rule does not apply
      // (e.g. bdl-8 `fullUrl.contains('/_history/').not()` on an entry without fullUrl).
      if (!result.includes(false)) continue;
      issues.push({
        severity: 'error',
        code: 'invariant',
        diagnostics: `Constraint ${c.def.key} failed: ${c.def.human}`,
        expression: [expr],
        details: c.def.key,
      });
    }
  }

  return { check, skipped: () => [...skipped.values()], fhirpathRuns: () => fhirpathRuns };
}
