import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { createHl7Converter, senderDirName } from '../../src/hl7v2/index.js';
import { convertText, hl7, ofType, resources } from './convert-support.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** An override directory holding the given files (path → JSON). */
function overrides(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'haven-hl7-templates-'));
  dirs.push(dir);
  for (const [file, content] of Object.entries(files)) {
    const full = join(dir, file);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

const msg = hl7(
  'MSH|^~\\&|EPIC|HOSP|HAVEN|HAVEN|20240101120000||ADT^A01^ADT_A01|C1|P|2.5.1',
  'PID|1||123456^^^HOSP^MR||DOE^JANE||19800215|X',
  'PV1|1|I|WARD1||||||||||||||||V1^^^HOSP^VN|||||||||||||||||||||||||20240101113000',
  'AL1|1|DA|70618^Penicillin^RXNORM|SV',
);

function rejects(files: Record<string, unknown>, ...patterns: RegExp[]): void {
  assert.throws(() => createHl7Converter({ templatesDir: overrides(files) }), (e: unknown) => {
    assert.ok(e instanceof HavenError);
    assert.equal(e.code, 'HL7_TEMPLATE_INVALID');
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

describe('hl7v2 convert: templates', () => {
  it('an override directory replaces built-in files: message rules, tables, settings', () => {
    const dir = overrides({
      'messages/ADT_A01.json': { extends: 'ADT', dropRules: ['allergy'], addRules: [{ name: 'encounter', segment: 'PV1', template: 'PV1', set: { status: 'arrived' } }] },
      'tables/administrative-sex.json': { map: { X: 'other' } },
      'settings.json': { defaultTimezone: '-05:00' },
    });
    const r = convertText(createHl7Converter({ templatesDir: dir }), msg);
    const list = resources(r);
    assert.equal(ofType(list, 'AllergyIntolerance').length, 0);
    assert.equal(ofType(list, 'Encounter')[0]!.status, 'arrived');
    assert.equal(ofType(list, 'Patient')[0]!.gender, 'other');
    assert.equal(ofType(list, 'Encounter')[0]!.period.start, '2024-01-01T11:30:00-05:00');
    // The built-ins are untouched for a converter without the override.
    assert.equal(ofType(resources(convertText(createHl7Converter({}), msg)), 'AllergyIntolerance').length, 1);
  });

  it('files under senders/<MSH-3^MSH-4>/ apply to that sender only', () => {
    const sender = 'EPIC^HOSP';
    const dir = overrides({ [`senders/${senderDirName(sender)}/tables/assigning-authorities.json`]: { map: { HOSP: 'https://hosp.example.org/mrn' } } });
    const converter = createHl7Converter({ templatesDir: dir });
    assert.deepEqual(convertText(converter, msg, 'm', sender).patientIdentifiers, ['https://hosp.example.org/mrn|123456']);
    assert.deepEqual(convertText(converter, msg, 'm', 'OTHER^APP').patientIdentifiers, ['urn:haven:hl7v2:OTHER%5EAPP:HOSP|123456']);
  });

  it('rejects an invalid template, naming the file and the path', () => {
    rejects({ 'segments/PID.json': { resourceType: 'Patient', fields: [{ to: 'name[]', from: 'five', type: 'XPN' }] } }, /segments\/PID\.json: fields\.0\.from/);
    rejects({ 'segments/PID.json': { resourceType: 'Patient', fields: [{ to: 'name', type: 'XPNN', from: '5' }] } }, /segments\/PID\.json: fields\.0\.type/);
    rejects({ 'messages/ADT_A01.json': '{ not json' }, /messages\/ADT_A01\.json: not valid JSON/);
    // `[=]` continues an item, so it cannot be the last step; `plus` adds to an instant only.
    rejects({ 'segments/AIP.json': { resourceType: 'Appointment', fields: [{ to: 'participant[=]', from: '3', type: 'XCN' }] } }, /segments\/AIP\.json: fields\.0\.to/);
    rejects({ 'segments/AIS.json': { resourceType: 'Appointment', fields: [{ to: 'end', from: '4', type: 'DTM', plus: { from: '7' } }] } }, /AIS\.json: fields\[0\]\.plus: adds a duration to an instant/);
  });

  it('rejects references to templates and tables that do not exist, and extends cycles', () => {
    rejects({ 'messages/ADT_A01.json': { rules: [{ name: 'p', segment: 'PID', template: 'NOPE' }] } }, /ADT_A01\.json: rules\[0\]\.template: segment template NOPE does not exist/);
    rejects({ 'segments/AL1.json': { resourceType: 'AllergyIntolerance', fields: [{ to: 'criticality', from: '4', type: 'ID', table: 'missing' }] } }, /AL1\.json: fields\[0\]\.table: value table missing/);
    rejects({ 'messages/A.json': { extends: 'B' }, 'messages/B.json': { extends: 'A' } }, /cycle/);
  });

  it('rejects a missing override directory', () => {
    assert.throws(() => createHl7Converter({ templatesDir: join(tmpdir(), 'haven-no-such-dir-xyz') }), /does not exist/);
  });
});
