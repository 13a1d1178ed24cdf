import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../../src/audit/canonical.js';
import { batchColumns, checkColumns } from '../../src/audit/verify-columns.js';
import { seededRandom } from '../support/random.js';

const BASE = Date.parse('2026-03-01T10:00:00.000Z');

/** What the column check must conclude, from the parsed entry (the slow, obviously right way). */
function oracle(
  entry: { tenant: string; recordedAt: string; resources: { patient?: string; type: string; id?: string; entity?: string }[]; who: { subject: string; clientId: string } },
  cols: ReturnType<typeof batchColumns>,
): string[] {
  const differs: string[] = [];
  if (cols.tenant === null || cols.tenant.toString('utf8') !== entry.tenant) differs.push('tenant_id');
  const at = Date.parse(entry.recordedAt);
  if (cols.firstMs === null || cols.firstMs > at) differs.push('first_at');
  if (cols.lastMs === null || cols.lastMs < at) differs.push('last_at');
  if (entry.resources.some((r) => r.patient !== undefined && !cols.patients.has(r.patient))) differs.push('patient_ids');
  if (cols.agents !== null && (!cols.agents.has(entry.who.subject) || !cols.agents.has(entry.who.clientId))) differs.push('agent_ids');
  const entities = entry.resources.flatMap((r) => (r.entity !== undefined ? [r.entity] : r.id !== undefined ? [`${r.type}/${r.id}`] : []));
  if (cols.entities !== null && entities.some((x) => !cols.entities!.has(x))) differs.push('entity_ids');
  return differs;
}

test('the byte-level column check agrees with parsing the entry, escapes and non-ASCII included', () => {
  const random = seededRandom(20261130);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  // Values a JSON encoder must escape, multi-byte UTF-8, and look-alikes of the keys themselves.
  const odd = ['default', 'ten"ant', 'back\\slash', 'línea\nnueva', 'Ω-tenant', '"tenant":"x', 'Patient/p-1', 'bi:0f3a', 'Patient/"q"', '\u0001ctl'];
  let agreed = 0;
  for (let i = 0; i < 3000; i++) {
    const tenant = pick(odd);
    const recordedAt = new Date(BASE + Math.floor(random() * 10_000)).toISOString();
    const patients = Array.from({ length: Math.floor(random() * 4) }, () => pick(odd));
    const entry = {
      action: 'read',
      id: `e-${i}`,
      recordedAt,
      requestId: pick(odd),
      resources: [
        ...patients.map((p): { patient?: string; type: string; id?: string; entity?: string } => ({ patient: p, type: 'Observation', ...(random() < 0.5 ? { id: pick(odd) } : {}) })),
        // v2 resources: the entity's tag in place of type/id; and a type alone.
        ...(random() < 0.5 ? [{ type: 'Encounter', entity: pick(odd) }] : []),
        { type: 'Organization' },
      ],
      tenant,
      v: 1,
      who: { clientId: pick(odd), kind: 'user', subject: random() < 0.5 ? '"patient":"Patient/p-1"' : pick(odd) },
    };
    const canonical = Buffer.from(canonicalJson(entry), 'utf8');
    const covered = patients.filter(() => random() < 0.9);
    const cols = batchColumns(
      random() < 0.9 ? tenant : pick(odd),
      random() < 0.05 ? null : [...covered, pick(odd)].join('\u001f'),
      random() < 0.9 ? BASE + Math.floor(random() * 3000) : null,
      BASE + 7000 + Math.floor(random() * 3000),
      // Agents: absent (a batch from before migration 040: not checked), or each of the two covered 95 % of the time.
      random() < 0.1 ? null : [...[entry.who.subject, entry.who.clientId].filter(() => random() < 0.95), pick(odd)].join('\u001f'),
      // Entities likewise: absent (before migration 041), or each covered 95 % of the time.
      random() < 0.1
        ? null
        : [...entry.resources.flatMap((r) => ('entity' in r ? [r.entity] : 'id' in r ? [`${r.type}/${r.id}`] : [])).filter(() => random() < 0.95), pick(odd)].join('\u001f'),
    );
    const expected = oracle(entry, cols);
    const got = checkColumns(cols, canonical);
    assert.equal(got, expected.length > 0 ? `batch column ${expected.join(', ')} does not cover the signed entry (altered)` : undefined, `case ${i}: ${canonical.toString()}`);
    if (expected.length > 0) agreed++;
  }
  assert.ok(agreed > 500 && agreed < 2900, `both verdicts drawn (${agreed} of 3000 differ)`);
});

test('bytes that are not an audit entry are named as such', () => {
  const cols = batchColumns('default', '', BASE, BASE);
  assert.equal(checkColumns(cols, Buffer.from('[{"tenant":"default","recordedAt":"2026-03-01T10:00:00.000Z"}]')), 'the entry bytes are not an audit entry');
  assert.equal(checkColumns(cols, Buffer.from('{"recordedAt":"2026-03-01T10:00:00.000Z"}')), 'the entry bytes are not an audit entry');
  assert.equal(checkColumns(cols, Buffer.from('{"recordedAt":"2026-03-01T10:00:00.000Z","tenant":"defa')), 'the entry bytes are not an audit entry');
  assert.equal(checkColumns(cols, Buffer.from('{"recordedAt":"2026-03-01T10:00:00.000Z","tenant":"default"}')), undefined);
});
