import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { HavenError } from '../../kernel/errors.js';
import type { MessageTemplate, SegmentTemplate, Settings, ValueTable } from './template-schema.js';
import { messageTemplateSchema, segmentTemplateSchema, settingsSchema, tableSchema } from './template-schema.js';
import { checkReferences } from './template-check.js';
import { resolveMessage, uniformSegment, type ResolvedMessage, type TemplateSet } from './template-set.js';

/** The templates shipped with Haven: <package>/templates/hl7v2 (dist/src/hl7v2/convert → four levels up). */
export const BUILTIN_TEMPLATES_DIR = fileURLToPath(new URL('../../../../templates/hl7v2/', import.meta.url));

export interface Located<T> {
  value: T;
  file: string;
}

/** One directory's files, validated. */
export interface Layer {
  settings?: Located<Partial<Settings>>;
  tables: Map<string, Located<ValueTable>>;
  segments: Map<string, Located<SegmentTemplate>>;
  messages: Map<string, Located<MessageTemplate>>;
}

/** A sender's directory name: MSH-3^MSH-4 with anything but letters, digits, `.`, `_`, `-` as `_`. */
export function senderDirName(sender: string): string {
  return sender.replace(/[^A-Za-z0-9._-]/g, '_');
}

function readJson<T>(file: string, schema: z.ZodType<T>, problems: string[]): T | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    problems.push(`${file}: not valid JSON (${(e as Error).message})`);
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) problems.push(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return undefined;
}

function readKind<T>(dir: string, schema: z.ZodType<T>, problems: string[]): Map<string, Located<T>> {
  const out = new Map<string, Located<T>>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) continue;
    const file = join(dir, name);
    const value = readJson(file, schema, problems);
    if (value !== undefined) out.set(name.slice(0, -5), { value, file });
  }
  return out;
}

export function readLayer(dir: string, problems: string[]): Layer {
  const settingsFile = join(dir, 'settings.json');
  const settings = existsSync(settingsFile) ? readJson(settingsFile, settingsSchema.partial(), problems) : undefined;
  return {
    ...(settings ? { settings: { value: settings, file: settingsFile } } : {}),
    tables: readKind(join(dir, 'tables'), tableSchema, problems),
    segments: readKind(join(dir, 'segments'), segmentTemplateSchema, problems),
    messages: readKind(join(dir, 'messages'), messageTemplateSchema, problems),
  };
}

/** Sender directories under `<dir>/senders`. */
export function senderDirs(dir: string): string[] {
  const root = join(dir, 'senders');
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory()).sort();
}

/** Overlays layers (later wins, file by file) and resolves the result into a checked TemplateSet. */
export function compose(layers: Layer[], problems: string[]): TemplateSet {
  const pick = <T>(kind: (l: Layer) => Map<string, Located<T>>): Map<string, Located<T>> => {
    const out = new Map<string, Located<T>>();
    for (const l of layers) for (const [k, v] of kind(l)) out.set(k, v);
    return out;
  };
  const tables = pick((l) => l.tables);
  const segments = pick((l) => l.segments);
  const messages = pick((l) => l.messages);
  const settings = settingsSchema.parse(Object.assign({}, ...layers.map((l) => l.settings?.value ?? {})));
  checkReferences({ tables, segments, messages }, problems);
  const plain = new Map([...messages].map(([k, v]) => [k, v.value]));
  const resolved = new Map<string, ResolvedMessage>();
  for (const [name, { file }] of messages) {
    try {
      resolved.set(name, resolveMessage(name, plain));
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
    }
  }
  const strip = <T>(m: Map<string, Located<T>>): Map<string, T> => new Map([...m].map(([k, v]) => [k, v.value]));
  const uniform = new Map([...segments].map(([k, v]) => [k, uniformSegment(v.value)]));
  return { settings, tables: strip(tables), segments: uniform, messages: resolved };
}

/** Fails start-up with every template problem listed, each naming file and path. */
export function failOnProblems(problems: string[]): void {
  if (problems.length === 0) return;
  throw new HavenError('incorrect', 'HL7_TEMPLATE_INVALID', `Invalid HL7 v2 mapping templates:\n${problems.join('\n')}`);
}
