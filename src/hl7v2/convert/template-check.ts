import type { Located } from './template-loader.js';
import type { FieldRule, MessageTemplate, SegmentTemplate, ValueTable } from './template-schema.js';

interface Maps {
  tables: Map<string, Located<ValueTable>>;
  segments: Map<string, Located<SegmentTemplate>>;
  messages: Map<string, Located<MessageTemplate>>;
}

function checkFields(fields: FieldRule[], at: string, maps: Maps, problems: string[]): void {
  fields.forEach((f, i) => {
    if (f.table !== undefined && !maps.tables.has(f.table)) problems.push(`${at}[${i}].table: value table ${f.table} does not exist`);
    const sources = [f.from, f.value, f.ref].filter((s) => s !== undefined).length;
    if (sources !== 1) problems.push(`${at}[${i}]: needs exactly one of from, value, ref`);
    if (f.type === 'ObservationValue' && !/(^|\.)value$/.test(f.to)) problems.push(`${at}[${i}].to: ObservationValue writes value[x]; use to: "value"`);
    if (f.plus !== undefined && f.type !== 'instant') problems.push(`${at}[${i}].plus: adds a duration to an instant; use type: "instant"`);
  });
}

/** Cross-file checks: every template, table and rule a file names exists. */
export function checkReferences(maps: Maps, problems: string[]): void {
  for (const [, { value, file }] of maps.segments) {
    checkFields(value.fields, `${file}: fields`, maps, problems);
    if (value.write !== 'update' && !value.identity) problems.push(`${file}: write ${value.write} needs identity`);
  }
  for (const [, { value, file }] of maps.messages) {
    for (const key of ['rules', 'addRules'] as const) {
      (value[key] ?? []).forEach((rule, i) => {
        if (!maps.segments.has(rule.template)) problems.push(`${file}: ${key}[${i}].template: segment template ${rule.template} does not exist`);
        checkFields(rule.fields, `${file}: ${key}[${i}].fields`, maps, problems);
      });
    }
  }
}
