import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessage } from '../../src/hl7v2/index.js';
import { builtinConverter, hl7 } from './convert-support.js';

// Conversion speed on representative messages, in CPU time so a busy shared machine does not skew it.
// Target 5,000 messages/s (docs/hl7v2.md, Templates → Performance); the assertion is a loose floor
// that still catches an order-of-magnitude regression.

const MSH = (type: string): string => `MSH|^~\\&|EPIC|HOSP|HAVEN|HAVEN|20240101120000+0100||${type}|MSG0001|P|2.5.1`;
const PID = 'PID|1||123456^^^HOSP&2.16.840.1.113883.19.5&ISO^MR~987-65-4321^^^SSA^SS||DOE^JANE^Q^^MRS||19800215|F|||12 MAIN ST^APT 4^SPRINGFIELD^IL^62701^USA^H||^PRN^PH^^1^217^5551234|^WPN^PH^^1^217^5559876|EN|M';
const PV1 = 'PV1|1|I|WARD1^101^A^HOSP||||1234^SMITH^ALAN^^^DR|||MED||||7|||1234^SMITH^ALAN^^^DR||V0001^^^HOSP&2.16.840.1.113883.19.5&ISO^VN|||||||||||||||||||||||||20240101113000+0100';

export const ADT = hl7(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240101120000+0100', PID,
  'NK1|1|DOE^JOHN|SPO^Spouse^HL70063|12 MAIN ST^^SPRINGFIELD^IL^62701^USA|^PRN^PH^^1^217^5551234', PV1,
  'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives', 'DG1|1||I10^Essential hypertension^I10|||A');

export const ORU = hl7(MSH('ORU^R01^ORU_R01'), PID, PV1, 'ORC|RE|ORD123^EPIC|FIL456^LAB||CM',
  'OBR|1|ORD123^EPIC|FIL456^LAB|24323-8^Comprehensive metabolic panel^LN|||20240101080000+0100|||||||||||||||20240101110000+0100|||F',
  'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|70-99|N|||F|||20240101080000+0100',
  'OBX|2|NM|2160-0^Creatinine^LN||0.9|mg/dL^mg/dL^UCUM|0.6-1.1|N|||F|||20240101080000+0100',
  'OBX|3|NM|2951-2^Sodium^LN||140|mmol/L^mmol/L^UCUM|136-145|N|||F|||20240101080000+0100',
  'OBX|4|NM|2823-3^Potassium^LN||4.1|mmol/L^mmol/L^UCUM|3.5-5.1|N|||F|||20240101080000+0100',
  'OBX|5|ST|8251-1^Comment^LN||Specimen slightly hemolyzed||||||F', 'NTE|1||Verified by second technologist');

/** Messages per CPU-second for parse + convert, after a warm-up. */
function rate(text: string, seconds: number): number {
  const converter = builtinConverter();
  const run = (id: string): unknown => converter.convert({ message: parseMessage(text), messageId: id, sender: 'EPIC^HOSP', receivedAt: new Date(0) });
  for (let i = 0; i < 500; i++) run('warm');
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) run(`m${n++}`);
  const c = process.cpuUsage(c0);
  return n / ((c.user + c.system) / 1e6);
}

describe('hl7v2 convert: speed', () => {
  for (const [name, text] of [['ADT^A01', ADT], ['ORU^R01', ORU]] as const) {
    it(`${name}: parse + convert per CPU-second`, () => {
      const perSecond = rate(text, 2);
      console.log(`${name}: ${Math.round(perSecond)} messages per CPU-second (parse + convert)`);
      assert.ok(perSecond > 1000, `${Math.round(perSecond)}/s`);
    });
  }
});
