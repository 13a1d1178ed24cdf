/**
 * The HL7 v2 traffic the benchmarks send: FHIR-Converter's sample messages
 * (../shared/data), each sent as a live feed would stamp it (its own control
 * id and patient, sent now). Shared by bench/hl7v2-mllp.ts and
 * bench/hl7v2-copy-limit.ts, so the ceiling is measured on the same messages.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const MIXES = {
  mixed: ['ADT-A01-01.hl7', 'ADT-A04-01.hl7', 'ADT-A08-01.hl7', 'ADT-A28-01.hl7', 'ADT-A31-01.hl7', 'ORU-R01-01.hl7'],
  update: ['ADT-A08-01.hl7', 'ADT-A31-01.hl7', 'ORU-R01-01.hl7'],
  create: ['ADT-A01-01.hl7', 'ADT-A04-01.hl7', 'ADT-A28-01.hl7'],
} as const;
export type Mix = keyof typeof MIXES;
export const SAMPLES_DIR = resolve(process.cwd(), '../shared/data/hl7v2-fhir-converter/messages');

/** Now as an HL7 v2 DTM with its zone (UTC), to the second, as a live feed stamps MSH-7. */
function hl7Now(): string {
  return `${new Date().toISOString().slice(0, 19).replace(/[-T:]/g, '')}+0000`;
}

/**
 * A sample with its own MSH-10 and first PID-3 value, in original acknowledgment mode, sent now
 * (MSH-7): the samples' own times are years apart, and a patient's older message would leave the
 * newer one's updates in place (docs/hl7v2.md, "Out-of-order messages") where a live feed's do not.
 */
export function variant(text: string, controlId: string, patientId: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .filter((l) => l.length > 0)
    .map((line) => {
      const f = line.split('|');
      if (line.startsWith('MSH')) {
        while (f.length < 16) f.push('');
        f[6] = hl7Now();
        f[9] = controlId;
        f[14] = '';
        f[15] = '';
      } else if (line.startsWith('PID') && f[3] !== undefined) {
        const reps = f[3].split('~');
        const comps = reps[0]!.split('^');
        comps[0] = patientId;
        reps[0] = comps.join('^');
        f[3] = reps.join('~');
      } else if (line.startsWith('PV1')) {
        while (f.length < 20) f.push('');
        f[19] = `V-${patientId}`; // one visit per patient, one order per message, as real feeds have
      } else if (line.startsWith('ORC') || line.startsWith('OBR')) {
        while (f.length < 4) f.push('');
        f[2] = `PO-${controlId}`;
        f[3] = `FO-${controlId}`;
      }
      return f.join('|');
    })
    .join('\r');
}

export interface Generator {
  next(): string;
}

/** Messages of `samples` in turn; the patient of message i is `patientOf(i)`. */
export function generator(run: string, samples: readonly string[], patientOf: (i: number) => string): Generator {
  const texts = samples.map((n) => readFileSync(join(SAMPLES_DIR, n), 'utf8'));
  let i = 0;
  return {
    next() {
      i += 1;
      return variant(texts[i % texts.length]!, `B${run}-${i}`, `BP-${run}-${patientOf(i)}`);
    },
  };
}
