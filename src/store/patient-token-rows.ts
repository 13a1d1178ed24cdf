import { PATIENT_KEYED_TOKEN_PARAMS } from '../search/patient-token.js';

/**
 * The patient-keyed token rows of one resource (migration 047, ADR 0010),
 * from the rows its other index tables receive: each plaintext token row of a
 * keyed parameter, once per Patient that one of the resource's plaintext
 * reference rows targets, with the sorted reference parameters linking it
 * there. Built from the rows rather than the extracted values so that a token
 * the blind indexer protected never reaches this table: its row carries a tag
 * (`blind`), not a code.
 */

/** idx_token row positions (index-writer.ts rowOf): param, system, code, text_norm, blind, grp. */
const TOKEN = { param: 0, system: 1, code: 2, blind: 4 } as const;
/**
 * idx_reference row positions: param, target_type, target_id, url, version, identifier_system,
 * identifier_value, blind, grp. A blind reference row tags only the identifier value: its
 * target stays plaintext (blind-rows.ts blindReference) and links the resource like any other.
 */
const REFERENCE = { param: 0, targetType: 1, targetId: 2 } as const;

type Row = (string | null)[];

/**
 * The same rows built in SQL from the stored token and reference rows of every
 * resource, as migration 047 backfilled them; for stores whose index rows
 * were written around the index writer (tests and benchmarks that load index
 * tables directly).
 */
export const PATIENT_TOKEN_BACKFILL_SQL = `INSERT INTO idx_token_patient (tenant_id, resource_type, resource_id, param, system, code, patient_id, ref_params)
SELECT t.tenant_id, t.resource_type, t.resource_id, t.param, t.system, t.code, r.target_id,
       array_agg(DISTINCT r.param COLLATE "C" ORDER BY r.param COLLATE "C")
FROM idx_token t
JOIN idx_reference r ON r.tenant_id = t.tenant_id AND r.resource_type = t.resource_type AND r.resource_id = t.resource_id
WHERE t.param = ANY($1::text[]) AND t.code IS NOT NULL AND t.blind IS NULL
  AND r.target_type = 'Patient' AND r.target_id IS NOT NULL
GROUP BY t.tenant_id, t.resource_type, t.resource_id, t.param, t.system, t.code, r.target_id`;

/** A text[] literal PostgreSQL parses back to the same elements (each quoted, `"` and `\` escaped). */
export function arrayLiteral(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/** Patient id → the reference parameters that link the resource to it, both sorted. */
function patientLinks(references: readonly Row[]): Map<string, string[]> {
  const links = new Map<string, string[]>();
  for (const row of references) {
    const id = row[REFERENCE.targetId];
    if (row[REFERENCE.targetType] !== 'Patient' || id == null) continue;
    const param = row[REFERENCE.param]!;
    const params = links.get(id);
    if (!params) links.set(id, [param]);
    else if (!params.includes(param)) params.push(param);
  }
  for (const params of links.values()) params.sort();
  // In id order: a blind reference row comes after the plain ones, and the rows must not depend on that.
  return new Map([...links].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `[param, system, code, patient_id, ref_params]` rows, each once; empty when nothing qualifies. */
export function patientTokenRows(tokens: readonly Row[] | undefined, references: readonly Row[] | undefined): Row[] {
  if (!tokens || !references) return [];
  const links = patientLinks(references);
  if (links.size === 0) return [];
  const out: Row[] = [];
  const seen = new Set<string>();
  for (const t of tokens) {
    const param = t[TOKEN.param]!;
    const code = t[TOKEN.code];
    if (!PATIENT_KEYED_TOKEN_PARAMS.has(param) || code == null || t[TOKEN.blind] != null) continue;
    const system = t[TOKEN.system] ?? null;
    // Two token rows may differ only in their text (one code, two displays): one keyed row for both.
    const key = `${param}\u0000${system === null ? 'N' : `V${system}`}\u0000${code}`;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const [patient, params] of links) out.push([param, system, code, patient, arrayLiteral(params)]);
  }
  return out;
}
