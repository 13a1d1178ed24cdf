import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHl7Converter, parseMessage } from '../../src/hl7v2/index.js';
import type { ConversionResult, Hl7Converter } from '../../src/hl7v2/index.js';

export const EXPECTED_DIR = path.resolve('../shared/data/hl7v2-fhir-converter/expected');

export type Res = Record<string, any>;

/** Microsoft FHIR-Converter's expected Bundle for a sample (`ADT-A01-01.hl7` → expected/ADT_A01/ADT-A01-01-expected.json). */
export function expectedFor(sample: string): Res[] {
  const dir = sample.replace(/-\d+\.hl7$/, '').replace('-', '_');
  const file = path.join(EXPECTED_DIR, dir, sample.replace('.hl7', '-expected.json'));
  return (JSON.parse(readFileSync(file, 'utf8')) as { entry: { resource: Res }[] }).entry.map((e) => e.resource);
}

export function convertText(converter: Hl7Converter, text: string | Buffer, messageId = 'msg-1', sender = 'LAB^HOSP'): ConversionResult {
  return converter.convert({ message: parseMessage(text), messageId, sender, receivedAt: new Date('2024-01-02T03:04:05Z') });
}

export function resources(result: ConversionResult): Res[] {
  return (result.bundle.entry as { resource: Res }[]).map((e) => e.resource);
}

export function ofType(list: Res[], type: string): Res[] {
  return list.filter((r) => r.resourceType === type);
}

export function codes(cc: Res | undefined): string[] {
  return ((cc?.coding ?? []) as Res[]).map((c) => String(c.code));
}

export const builtinConverter = (): Hl7Converter => createHl7Converter({});

/** A message from segment lines (`\r` terminated, as on the wire). */
export function hl7(...segments: string[]): string {
  return segments.join('\r');
}
