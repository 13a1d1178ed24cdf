/**
 * Patient-keyed tokens (ADR 0010, migration 047). "This patient's resources
 * with code C" is otherwise an intersection: the patient's resources from
 * idx_reference (~30 Observations per patient at 1M resources), each probed
 * in idx_token for C. idx_token_patient holds each plaintext token of a keyed
 * parameter once per Patient the resource references, with the reference
 * parameters that link it there (`ref_params`), so the pair is one index
 * range. Three forms use it, each returning exactly the rows of the
 * intersection it replaces:
 * - a keyed token criterion beside a reference criterion naming Patients
 *   (`Observation?patient=P&code=C`, `subject=Patient/P`);
 * - a keyed token criterion in a Patient compartment search or under a
 *   patient-context token's compartment (`Patient/P/Observation?code=C`);
 * - `_has:X:<param>:code=C` on Patient: per candidate, one probe.
 * Everything else (modifiers, `:in`, blind-indexed tokens, unions) keeps the
 * plain tables.
 */
import type { CompartmentFilter } from './compartment.js';
import type { Criterion, SearchQuery } from './query.js';
import { onAlias, tokenCondition } from './compile-values.js';
import type { SqlParams } from './sql-params.js';

/**
 * Token parameters whose rows are also kept per patient. `code` alone: it is
 * what clinical queries pair with a patient and it is selective within one
 * patient's record, where `category` or `status` match most of it and the
 * intersection costs little. Each keyed parameter adds a row per value and
 * Patient to every write (ADR 0010).
 */
export const PATIENT_KEYED_TOKEN_PARAMS: ReadonlySet<string> = new Set(['code']);

/** Patients a resource must link to, and the reference parameters that may link it. */
export interface PatientAnchor {
  ids: readonly string[];
  refParams: readonly string[];
}

/** A criterion idx_token_patient answers: plain codes (any system form) of a keyed parameter. */
export function isKeyedToken(c: Criterion): boolean {
  return (
    c.kind === 'token' && c.modifier === null && c.rowParams === undefined && PATIENT_KEYED_TOKEN_PARAMS.has(c.param) &&
    c.values.length > 0 && c.values.every((v) => v.kind === 'token' && v.code !== null)
  );
}

/**
 * The Patients a reference criterion names, when every value is a plain
 * reference to a Patient: `Patient/P`, `:Patient` with a bare id, or a bare
 * id on a parameter that only targets Patient (Criterion.onlyTarget).
 */
export function referenceAnchor(c: Criterion): PatientAnchor | null {
  if (c.kind !== 'reference' || (c.modifier !== null && c.modifier !== 'type') || c.link || c.rowParams) return null;
  const ids: string[] = [];
  for (const v of c.values) {
    if (v.kind !== 'reference' || v.url !== null || v.version !== null || v.id === null) return null;
    if ((v.targetType ?? c.onlyTarget) !== 'Patient') return null;
    ids.push(v.id);
  }
  return ids.length === 0 ? null : { ids, refParams: [c.param] };
}

/** A Patient compartment of another type: its members link to the Patient through `params`. */
export function compartmentAnchor(f: CompartmentFilter | undefined, searchedType: string): PatientAnchor | null {
  if (!f || f.compartment !== 'Patient' || searchedType === 'Patient' || f.params.length === 0) return null;
  return { ids: [f.id], refParams: f.params };
}

/** Which of a query's conditions the patient-keyed rows answer together. */
export interface PatientFusion {
  tokens: ReadonlySet<Criterion>;
  anchor: PatientAnchor;
  /** Where the anchor came from: it is implied by every fused token, so the WHERE clause leaves it out. */
  source: Criterion | 'compartment' | 'alsoIn';
}

/**
 * The fusion for a page or count statement, or null: at least one keyed token
 * criterion and a Patient anchor (the first reference criterion naming
 * Patients, else the compartment, else the patient-context compartment).
 * `skip` is a criterion compiled another way (a sort-driving one).
 */
export function patientFusion(query: SearchQuery, skip?: Criterion): PatientFusion | null {
  const tokens = new Set(query.criteria.filter((c) => c !== skip && isKeyedToken(c)));
  if (tokens.size === 0) return null;
  for (const c of query.criteria) {
    const anchor = c === skip ? null : referenceAnchor(c);
    if (anchor) return { tokens, anchor, source: c };
  }
  const inCompartment = compartmentAnchor(query.compartment, query.resourceType);
  if (inCompartment) return { tokens, anchor: inCompartment, source: 'compartment' };
  const alsoIn = compartmentAnchor(query.alsoIn, query.resourceType);
  return alsoIn ? { tokens, anchor: alsoIn, source: 'alsoIn' } : null;
}

/** Rows of `alias` for the token's codes on resources of type `type` (SQL expression); tokenCondition writes `i.`. */
function keyedRange(token: Criterion, p: SqlParams, alias: string, type: string): string {
  const codes = token.values.map((v) => (v.kind === 'token' ? onAlias(tokenCondition(v, p), alias) : 'FALSE'));
  const any = codes.length === 1 ? codes[0]! : `(${codes.map((c) => `(${c})`).join(' OR ')})`;
  return `FROM idx_token_patient ${alias} WHERE ${alias}.tenant_id = $1 AND ${alias}.resource_type = ${type} AND ${alias}.param = ${p.add(token.param)}
    AND ${any}`;
}

/** Ids of resources of type `type` (SQL expression) with the token and a link to one of the anchor's Patients. */
export function patientTokenSet(token: Criterion, anchor: PatientAnchor, p: SqlParams, type: string): string {
  const range = keyedRange(token, p, 'k', type);
  const ids = anchor.ids.length === 1 ? `= ${p.add(anchor.ids[0])}` : `= ANY(${p.add(anchor.ids, 'text[]')})`;
  return `SELECT k.resource_id ${range} AND k.patient_id ${ids} AND k.ref_params && ${p.add(anchor.refParams, 'text[]')}`;
}

/**
 * `_has:<source>:<refParam>:<token>` on Patient: the Patients that a `source`
 * resource with the token links to through `refParam` (one row per pair, so
 * a probe per candidate is one index range). `alias` is free at this nesting
 * level; its `resource_id` is the source resource.
 */
export function patientsWithToken(token: Criterion, refParam: string, source: string, p: SqlParams, alias: string): string {
  return `SELECT ${alias}.patient_id ${keyedRange(token, p, alias, source)} AND ${alias}.ref_params && ${p.add([refParam], 'text[]')}`;
}
