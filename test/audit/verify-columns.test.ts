import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../../src/audit/canonical.js';
import { batchColumns, checkColumns, JoinedValues } from '../../src/audit/verify-columns.js';
import { seededRandom } from '../support/random.js';

const BASE = Date.parse('2026-03-01T10:00:00.000Z');

/** What the column check must conclude, from the parsed entry (the slow, obviously right way). */
function oracle(
  entry: { tenant: string; recordedAt: string; outcome: string; resources: { patient?: string; type: string; id?: string; entity?: string }[]; who: { subject: string; clientId: string } },
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
  if (cols.failed === false && entry.outcome !== 'success') differs.push('failed');
  return differs;
}

test('the byte-level column check agrees with parsing the entry, escapes and non-ASCII included', () => {
  const random = seededRandom(20261130);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  // Values a JSON encoder must escape, multi-byte UTF-8, and look-alikes of the keys themselves.
  const odd = ['default', 'ten"ant', 'back\\slash', 'línea\nnueva', 'Ω-tenant', '"tenant":"x', 'Patient/p-1', 'bi:0f3a', 'Patient/"q"', '\u0001ctl'];
  // Times the digit reader must take as Date.parse does, or leave to it: days a month lacks, leap days,
  // 24:00, two-digit years, other forms; and any time of years 100 to 9999.
  const oddTimes = ['2026-02-29T10:00:00.000Z', '2024-02-29T10:00:00.000Z', '2100-02-29T00:00:00.000Z', '2000-02-29T23:59:59.999Z', '2026-04-31T10:00:00.000Z', '2026-03-01T24:00:00.000Z', '0050-03-01T10:00:00.000Z', '0100-01-01T00:00:00.000Z', '2026-03-01T10:00:00Z', '2026-03-01T10:00:60.000Z', '2026-13-01T10:00:00.000Z', '2026-00-10T10:00:00.000Z', '2026-03-01T10:00:00.000+01:00', 'not a time'];
  let agreed = 0;
  for (let i = 0; i < 3000; i++) {
    const tenant = pick(odd);
    const roll = random();
    const recordedAt = roll < 0.6 ? new Date(BASE + Math.floor(random() * 10_000)).toISOString() : roll < 0.8 ? pick(oddTimes) : new Date(Date.UTC(100 + Math.floor(random() * 9900), 0, 1) + Math.floor(random() * 366 * 86_400_000)).toISOString();
    const at = Date.parse(recordedAt);
    // Half the windows end exactly at the entry's time or a millisecond either side of it.
    const edge = (ms: number) => (Number.isNaN(at) || random() < 0.5 ? ms : at + Math.floor(random() * 3) - 1);
    const patients = Array.from({ length: Math.floor(random() * 4) }, () => pick(odd));
    const entry = {
      action: 'read',
      id: `e-${i}`,
      outcome: random() < 0.7 ? 'success' : random() < 0.5 ? 'failure' : pick(odd),
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
      // Members the check skips whole: a flat object, and (not in real entries) nesting with brackets inside strings.
      where: { node: pick(odd), sourceIp: '10.0.0.1' },
      ...(random() < 0.3 ? { detail: { nested: [{ brace: '}]{["' }, [1, 2.5, true, null, pick(odd)]], n: -1.5e3 } } : {}),
      who: { clientId: pick(odd), kind: 'user', subject: random() < 0.5 ? '"patient":"Patient/p-1"' : pick(odd) },
    };
    const canonical = Buffer.from(canonicalJson(entry), 'utf8');
    const covered = patients.filter(() => random() < 0.9);
    const cols = batchColumns(
      random() < 0.9 ? tenant : pick(odd),
      random() < 0.05 ? null : [...covered, pick(odd)].join('\u001f'),
      random() < 0.9 ? edge(BASE + Math.floor(random() * 3000)) : null,
      edge(BASE + 7000 + Math.floor(random() * 3000)),
      // Agents: absent (a batch from before migration 040: not checked), or each of the two covered 95 % of the time.
      random() < 0.1 ? null : [...[entry.who.subject, entry.who.clientId].filter(() => random() < 0.95), pick(odd)].join('\u001f'),
      // Entities likewise: absent (before migration 041), or each covered 95 % of the time.
      random() < 0.1
        ? null
        : [...entry.resources.flatMap((r) => ('entity' in r ? [r.entity] : 'id' in r ? [`${r.type}/${r.id}`] : [])).filter(() => random() < 0.95), pick(odd)].join('\u001f'),
      // The failed flag: absent (before migration 045), set, or cleared.
      random() < 0.2 ? null : random() < 0.5 ? 'true' : 'false',
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

test('structure the insert path never writes is not an audit entry', () => {
  const cols = batchColumns('default', 'Patient/p-1', BASE, BASE, 'u\u001fc', 'Observation/o-1', 'false');
  const at = '"recordedAt":"2026-03-01T10:00:00.000Z"';
  const ok = `{"outcome":"success",${at},"resources":[{"id":"o-1","patient":"Patient/p-1","type":"Observation","version":2}],"tenant":"default","who":{"clientId":"c","subject":"u"}}`;
  assert.equal(checkColumns(cols, Buffer.from(ok)), undefined);
  for (const bad of [
    ok.replace('"version":2', '"version":{"n":2}'), // a nested value in a resource
    ok.replace('"version":2', '"version":[2]'),
    ok.replace('"clientId":"c"', '"clientId":{"id":"c"}'), // and in who
    ok.replace('"outcome":"success",', '"outcome":"success"'), // a missing comma
    ok.replace('"resources":[{', '"resources":[{},{').replace('}],"tenant"', '},],"tenant"'), // a trailing comma
    ok.replace('"tenant":"default"', '"tenant":null'), // tenant not a string
    ok.replace('"version":2', '"version":'), // a member without a value
    `${ok.slice(0, -1)},}`,
    ok.slice(0, -1),
  ]) {
    assert.equal(checkColumns(cols, Buffer.from(bad)), 'the entry bytes are not an audit entry', bad);
  }
  // What each part of the entry is checked against: one column each.
  assert.equal(checkColumns(cols, Buffer.from(ok.replace('"outcome":"success"', '"outcome":"failure"'))), 'batch column failed does not cover the signed entry (altered)');
  assert.equal(checkColumns(cols, Buffer.from(ok.replace('"subject":"u"', '"subject":"v"'))), 'batch column agent_ids does not cover the signed entry (altered)');
  assert.equal(checkColumns(cols, Buffer.from(ok.replace('"id":"o-1"', '"id":"o-2"'))), 'batch column entity_ids does not cover the signed entry (altered)');
  assert.equal(checkColumns(cols, Buffer.from(ok.replace('Patient/p-1', 'Patient/p-2'))), 'batch column patient_ids does not cover the signed entry (altered)');
  assert.equal(checkColumns(cols, Buffer.from(ok.replace('10:00:00.000Z', '10:00:00.001Z'))), 'batch column last_at does not cover the signed entry (altered)');
});

test('a joined column holds exactly the values splitting it would give', () => {
  const random = seededRandom(20261203);
  // Short values over a small alphabet, so that values are often prefixes, suffixes or parts of others.
  const alphabet = ['a', 'b', 'ab', '', '\u001f', 'Patient/1', 'Patient/12'];
  const draw = () => Array.from({ length: Math.floor(random() * 3) }, () => alphabet[Math.floor(random() * alphabet.length)]!).join('');
  for (let i = 0; i < 5000; i++) {
    const joined = Array.from({ length: Math.floor(random() * 5) }, draw).join('\u001f');
    const split = new Set(joined ? joined.split('\u001f') : []);
    const value = random() < 0.5 && split.size > 0 ? [...split][Math.floor(random() * split.size)]! : draw();
    assert.equal(new JoinedValues(joined).has(value), split.has(value) && !value.includes('\u001f'), `${JSON.stringify(joined)} has ${JSON.stringify(value)}`);
  }
});
