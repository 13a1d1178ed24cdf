import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HavenError } from '../../kernel/errors.js';
import type { ConversionInput, ConversionResult, Hl7Converter } from '../model.js';
import { entryOf, provenanceEntry } from './bundle.js';
import { parseTs } from './datetime.js';
import type { MapContext } from './map-context.js';
import { RunState, type Produced } from './run-state.js';
import { runRules } from './engine.js';
import { BUILTIN_TEMPLATES_DIR, compose, failOnProblems, readLayer, senderDirName, senderDirs, type Layer } from './template-loader.js';
import { candidates, pickTemplate, type TemplateSet } from './template-set.js';
import { toFhirDateTime, toFhirInstant } from './datetime.js';

export { BUILTIN_TEMPLATES_DIR, senderDirName } from './template-loader.js';
export { MESSAGE_SYSTEM, SENDER_SYSTEM } from './bundle.js';

export interface Hl7ConverterOptions {
  /** Override directory (HAVEN_HL7_TEMPLATES_DIR): its files replace the built-ins file by file; `senders/<sender>/` per sender. */
  templatesDir?: string;
}

/**
 * Loads and checks every template once (failing with HL7_TEMPLATE_INVALID,
 * naming file and path), then converts messages without touching the disk.
 */
export function createHl7Converter(options: Hl7ConverterOptions = {}): Hl7Converter {
  const sets = loadSets(options.templatesDir);
  const fallback = sets.get('')!;
  return {
    convert: (input) => convertWith(sets.get(senderDirName(input.sender)) ?? fallback, input),
  };
}

function loadSets(overrideDir: string | undefined): Map<string, TemplateSet> {
  const problems: string[] = [];
  if (overrideDir !== undefined && !existsSync(overrideDir)) problems.push(`${overrideDir}: HL7 template directory does not exist`);
  const roots = [BUILTIN_TEMPLATES_DIR, ...(overrideDir !== undefined && existsSync(overrideDir) ? [overrideDir] : [])];
  const base = roots.map((r) => readLayer(r, problems));
  const sets = new Map<string, TemplateSet>([['', compose(base, problems)]]);
  const senders = new Set(roots.flatMap((r) => senderDirs(r)));
  for (const sender of senders) {
    const layers: Layer[] = [];
    roots.forEach((r, i) => layers.push(base[i]!, readLayer(join(r, 'senders', sender), problems)));
    sets.set(sender, compose(layers, problems));
  }
  failOnProblems(problems);
  return sets;
}

function convertWith(set: TemplateSet, input: ConversionInput): ConversionResult {
  const { message } = input;
  const tmpl = pickTemplate(set, message.type);
  if (!tmpl) {
    throw new HavenError('unsupported', 'HL7_NO_TEMPLATE', `No HL7 v2 template for ${message.type.code}^${message.type.trigger} (tried ${candidates(message.type).join(', ')})`);
  }
  for (const req of tmpl.requires) {
    if (message.get(req.path) === undefined) throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', req.reason);
  }
  const notes = new Set<string>();
  const msh7 = message.get('MSH-7');
  const zone = (msh7 === undefined ? undefined : parseTs(msh7)?.zone) ?? set.settings.defaultTimezone;
  const ctx: MapContext = { settings: set.settings, sender: input.sender, zone, delimiters: message.delimiters, table: (n) => set.tables.get(n), warn: (m) => notes.add(m) };
  const run = new RunState(set, tmpl, message, ctx, input.messageId, input.sender);
  runRules(run);
  if (run.produced.length === 0) {
    throw new HavenError('unsupported', 'HL7_NO_TEMPLATE', `Template ${tmpl.name} maps none of the segments of this ${message.type.code}^${message.type.trigger} message`);
  }
  const occurred = msh7 === undefined ? undefined : toFhirDateTime(msh7, zone)?.value;
  const entry = [...run.produced.map(entryOf), provenanceEntry(input, run.produced, occurred)];
  return {
    bundle: { resourceType: 'Bundle', type: 'transaction', entry },
    patientIdentifiers: patientIdentifiers(run.produced),
    warnings: [...notes],
    ...sentAt(set, msh7, zone),
    ...merge(run),
  };
}

/**
 * The instant updates are ordered by. A time without a zone (none in MSH-7, no `defaultTimezone`)
 * orders nothing: read as UTC it would put one sender's local times hours away from another's
 * zoned ones and leave real updates out.
 */
function sentAt(set: TemplateSet, msh7: string | undefined, zone: string | undefined): { sentAt?: string } {
  if (set.settings.staleUpdates === 'apply' || msh7 === undefined || zone === undefined) return {};
  const instant = toFhirInstant(msh7, zone);
  return instant === undefined ? {} : { sentAt: instant };
}

function patientIdentifiers(produced: Produced[]): string[] {
  const patient = produced.find((p) => p.resourceType === 'Patient');
  const ids = (patient?.resource.identifier ?? []) as { system?: string; value?: string }[];
  return ids.filter((i) => i.system !== undefined && i.value !== undefined).map((i) => `${i.system}|${i.value}`);
}

function merge(run: RunState): { merge?: { survivor: string; retired: string } } {
  const spec = run.tmpl.merge;
  if (!spec) return {};
  const survivor = run.produced.find((p) => p.rule === spec.survivor)?.identity;
  const retired = run.produced.find((p) => p.rule === spec.retired)?.identity;
  if (!survivor || !retired) {
    throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', 'Merge message without both the surviving patient (PID-3) and the retired patient (MRG-1)');
  }
  return { merge: { survivor: `${survivor.system}|${survivor.value}`, retired: `${retired.system}|${retired.value}` } };
}
