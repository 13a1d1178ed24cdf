import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessage } from '../../src/hl7v2/index.js';
import type { Hl7Message } from '../../src/hl7v2/model.js';
import { composite } from '../../src/hl7v2/convert/read-value.js';
import { loadSamples } from './samples.js';
import { hl7 } from './convert-support.js';

// Composites locate a repetition's components once (with the message's delimiters) instead of asking the
// segment value by value; both must read the same text, escapes decoded, padding trimmed, empties absent.

const EDGE = hl7(
  'MSH|^~\\&|EPIC|HOSP|HAVEN|HAVEN|20240101120000+0100||ADT^A01^ADT_A01|C1|P|2.5.1',
  'PID|1||123456^^^HOSP&2.16.840.1.113883.19.5&ISO^MR~~99^^^LOCAL^PI||DO\\S\\E^JA\\T\\NE^ ^^ Dr ||19800215|F|||12 MAIN ST\\R\\APT 4^^SPRING\\F\\FIELD&x&&y^IL||^PRN^PH^^1^217^5551234~',
  'OBX|1|ED|X^Y||^AP^pdf^Base64^QUJD\\E\\RA==|&&|',
  'ZZZ|^^^|&^&|~^~|a\\X41\\b^\\Zlocal\\^\\',
);

function compareAll(message: Hl7Message, label: string): number {
  let compared = 0;
  for (const [si, seg] of message.segments.entries()) {
    for (let field = 1; field <= seg.fieldCount + 1; field++) {
      const reps = Math.max(1, seg.repetitions(field)) + 1;
      for (let rep = 1; rep <= reps; rep++) {
        for (const component of [undefined, 2]) {
          const p = component === undefined ? { field } : { field, component };
          const fast = composite(seg, p, rep, message.delimiters);
          const slow = composite(seg, p, rep);
          for (let c = 0; c <= 10; c++) {
            for (const s of [undefined, 1, 2]) {
              assert.equal(fast.c(c, s), slow.c(c, s), `${label} segment ${si + 1} ${seg.name}-${field}[${rep}] ${component ?? ''} c${c} s${s ?? ''}`);
              compared++;
            }
          }
        }
      }
    }
  }
  return compared;
}

describe('hl7v2 convert: composite reads', () => {
  it('give what the segment decodes, on every sample and on escapes, empties and padding', () => {
    let compared = compareAll(parseMessage(EDGE), 'edge');
    for (const sample of loadSamples()) compared += compareAll(parseMessage(sample.bytes), sample.name);
    assert.ok(compared > 50_000, `compared ${compared}`);
  });

  it('decode escapes inside components through the segment', () => {
    const m = parseMessage(EDGE);
    const pid = m.segments[1]!;
    const name = composite(pid, { field: 5 }, 1, m.delimiters);
    assert.equal(name.c(1), 'DO^E');
    assert.equal(name.c(2), 'JA&NE');
    assert.equal(name.c(3), undefined);
    assert.equal(name.c(5), 'Dr');
    const address = composite(pid, { field: 11 }, 1, m.delimiters);
    assert.equal(address.c(1), '12 MAIN ST~APT 4');
    assert.equal(address.c(3), 'SPRING|FIELD');
    assert.equal(address.c(3, 2), 'x');
    assert.equal(address.c(3, 3), undefined);
  });
});
