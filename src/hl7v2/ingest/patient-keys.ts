import type { Hl7Message } from '../model.js';

/**
 * Patient identifiers of a message as PID-3 states them: `authority|value`
 * (PID-3.4.1 and PID-3.1), or the bare value when no authority is sent.
 * Used before conversion, so failed and rejected-by-conversion messages are
 * findable by patient too, and for the per-patient ordering lock.
 */
export function pidIdentifiers(message: Hl7Message): string[] {
  const pid = message.segmentsNamed('PID')[0];
  if (!pid) return [];
  const out: string[] = [];
  const n = pid.repetitions(3);
  for (let i = 1; i <= n; i++) {
    const value = pid.get(`3[${i}].1`);
    if (!value) continue;
    const authority = pid.get(`3[${i}].4`);
    out.push(authority ? `${authority}|${value}` : value);
  }
  return out;
}

/** Every form a caller may search by: `authority|value`, the bare value, and the converter's `system|value`. */
export function searchForms(pid: string[], converted: string[]): string[] {
  const forms = new Set<string>();
  for (const id of [...pid, ...converted]) {
    forms.add(id);
    const bar = id.lastIndexOf('|');
    if (bar >= 0) forms.add(id.slice(bar + 1));
  }
  forms.delete('');
  return [...forms];
}
