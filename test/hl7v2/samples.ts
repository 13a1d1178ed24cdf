import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The 57 sample messages from Microsoft's FHIR-Converter (MIT), resolved from the project root. */
export const SAMPLES_DIR = path.resolve('../shared/data/hl7v2-fhir-converter/messages');

export interface Sample {
  name: string;
  bytes: Buffer;
}

export function loadSamples(): Sample[] {
  return readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith('.hl7'))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(path.join(SAMPLES_DIR, name)) }));
}
