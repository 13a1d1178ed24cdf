import { z } from 'zod';

/**
 * The shape of the declarative mapping templates (JSON files under
 * templates/hl7v2/). This schema is the reference a facility follows when it
 * copies and adapts a template; the loader rejects anything else at start,
 * naming the file and the offending path.
 */

export const DATA_TYPES = [
  'ST', 'text', 'ID', 'NM', 'SI', 'boolean', 'DT', 'DTM', 'instant',
  'XPN', 'CX', 'XAD', 'XTN', 'CWE', 'Coding', 'EI', 'XCN', 'XON', 'PL', 'HD',
  'CQ', 'DR', 'Annotation', 'ED', 'ObservationValue', 'base64Text',
] as const;
export type DataTypeName = (typeof DATA_TYPES)[number];

/** `3`, `3.1`, `2.1.1`: field[.component[.subcomponent]] of the current segment; `OBR-7` of the in-context OBR. */
const fieldPath = z.string().regex(/^(?:[A-Z][A-Z0-9]{2}-)?\d{1,3}(?:\.\d{1,3}){0,2}$/, 'expected a field path like 3, 3.1, 2.1.1 or OBR-7');
/** A FHIR element path, `[]` marking arrays appended to: `identifier[]`, `hospitalization.admitSource`. */
// `[=]` (this segment's current item) only before a further step: `participant[=].type[]`.
const targetPath = z.string().regex(/^(?:[a-z][A-Za-z0-9]*(?:\[\]|\[=\])?\.)*[a-z][A-Za-z0-9]*(?:\[\])?$/, 'expected an element path like name[], period.start or participant[=].type[]');
const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, _ or -');
const json: z.ZodType<unknown> = z.json();

/** Holds when the field at `from` is present, has one of `in`, is present with none of `notIn`, or is absent (`absent`). */
const conditionSchema = z.strictObject({ from: fieldPath, in: z.array(z.string()).optional(), notIn: z.array(z.string()).optional(), absent: z.boolean().optional() });
export type Condition = z.infer<typeof conditionSchema>;

export const fieldRuleSchema = z.strictObject({
  /** Where the value goes in the resource. */
  to: targetPath,
  /** Where the value comes from in the segment. */
  from: fieldPath.optional(),
  /** How the HL7 data type is mapped; defaults to ST. */
  type: z.enum(DATA_TYPES).optional(),
  /** A value table (tables/<name>.json) the code is looked up in. */
  table: name.optional(),
  /** Map every repetition of the field (into an array path), not only the first. */
  repeat: z.boolean().optional(),
  /** A constant instead of `from`. */
  value: json.optional(),
  /** A reference to the resource another rule produced for the current group. */
  ref: name.optional(),
  /** Wraps the value: the string "$value" inside is replaced by it. */
  shape: json.optional(),
  /** Members added to an object value (e.g. an Identifier's type). */
  merge: z.record(z.string(), json).optional(),
  /** Only set when nothing set the target yet (fallback sources). */
  fallback: z.boolean().optional(),
  /** For ObservationValue: the fields holding the value type and the units. */
  typeFrom: fieldPath.optional(),
  unitFrom: fieldPath.optional(),
  /** Read `from` in the segments named here that follow this one (NTE after OBR/OBX), skipping `skip`. */
  following: z.string().regex(/^[A-Z][A-Z0-9]{2}$/).optional(),
  skip: z.array(z.string()).optional(),
  /**
   * For an instant: the value plus a duration read from `plus.from` (a number) in the units at
   * `plus.unit` (s, min, h, d in their common spellings; minutes when absent). An end time from a
   * start and a duration (AIS-4 + AIS-7/8): an unknown unit or no duration gives no value.
   */
  plus: z.strictObject({ from: fieldPath, unit: fieldPath.optional() }).optional(),
  /** Apply only when the condition holds. */
  when: conditionSchema.optional(),
});
export type FieldRule = z.infer<typeof fieldRuleSchema>;

const writeMode = z.enum(['update', 'conditional-update', 'conditional-create']);
export type WriteMode = z.infer<typeof writeMode>;

const linkSchema = z.strictObject({ rule: name, to: targetPath, shape: json.optional() });

export const segmentTemplateSchema = z.strictObject({
  description: z.string().optional(),
  resourceType: z.string().regex(/^[A-Z][A-Za-z]+$/),
  /** How the resource is written: by deterministic id, or matched on its identity identifier. */
  write: writeMode.default('update'),
  /** Business-key parts hashed into the id: field paths, `@rule` (another resource's key). */
  key: z.array(z.string()).default([]),
  /** The identifier field (a CX or EI) the resource is matched on when written conditionally. */
  identity: z.strictObject({ from: fieldPath, type: z.enum(['CX', 'EI']) }).optional(),
  /** A conditional write whose identity field is empty: fail (HL7_CONVERSION_FAILED), or write by deterministic id (`update`). */
  withoutIdentity: z.enum(['fail', 'update']).default('fail'),
  fields: z.array(fieldRuleSchema).default([]),
  /** Values for required elements the message did not supply. */
  defaults: z.record(z.string(), json).default({}),
  /** Elements that must be set after all rules ran; otherwise HL7_CONVERSION_FAILED. */
  required: z.array(targetPath).default([]),
});
export type SegmentTemplate = z.infer<typeof segmentTemplateSchema>;

export const ruleSchema = z.strictObject({
  /** The name other rules use to reference this resource (`ref`, `link`, `@name`). */
  name,
  /** The segment that fires the rule, once per occurrence. */
  segment: z.string().regex(/^[A-Z][A-Z0-9]{2}$/),
  /** The segment template (segments/<template>.json). */
  template: name,
  /** Add the fields onto the in-context resource of this rule instead of making a new one. */
  into: name.optional(),
  /** With `into`: skip the segment when there is no such resource (instead of creating one). */
  intoOnly: z.boolean().optional(),
  /** Only the first occurrence in the message. */
  first: z.boolean().optional(),
  /** Fire only for segments where the condition holds (IN1's insured as a RelatedPerson unless IN1-17 is SEL). */
  when: conditionSchema.optional(),
  write: writeMode.optional(),
  /** Extra field rules, applied after the template's. */
  fields: z.array(fieldRuleSchema).default([]),
  /** Constants set last (e.g. Encounter.status for this trigger). */
  set: z.record(z.string(), json).default({}),
  /** Put a reference to this resource into the in-context resource of another rule. */
  link: z.array(linkSchema).default([]),
});
export type Rule = z.infer<typeof ruleSchema>;

export const messageTemplateSchema = z.strictObject({
  description: z.string().optional(),
  /** Inherit the rules (and levels/requires/merge) of another message template. */
  extends: name.optional(),
  /** Group levels: a segment starts a new group at its level and closes deeper ones. */
  levels: z.array(z.array(z.string())).optional(),
  /** Paths that must be present; otherwise HL7_CONVERSION_FAILED with `reason`. */
  requires: z.array(z.strictObject({ path: z.string(), reason: z.string() })).optional(),
  /** A merge message: the rules naming the surviving and the retired patient. */
  merge: z.strictObject({ survivor: name, retired: name }).optional(),
  rules: z.array(ruleSchema).optional(),
  /** Rules added after the inherited ones. */
  addRules: z.array(ruleSchema).optional(),
  /** Inherited rules (by name) to drop. */
  dropRules: z.array(name).optional(),
});
export type MessageTemplate = z.infer<typeof messageTemplateSchema>;

export const tableSchema = z.strictObject({
  description: z.string().optional(),
  /** The target FHIR value per HL7 code (a code string, a Coding, …). */
  map: z.record(z.string(), json),
  /** Used for codes not in `map`; absent: the element is left out (and a warning noted). */
  default: json.optional(),
});
export type ValueTable = z.infer<typeof tableSchema>;

export const settingsSchema = z.strictObject({
  description: z.string().optional(),
  /** Zone assumed for times sent without one and when MSH-7 has none (`+01:00`); absent: such times are cut to the date. */
  defaultTimezone: z.string().regex(/^(Z|[+-]\d{2}:\d{2})$/).optional(),
  /** Identifier system for CX/EI values without an assigning authority; `{sender}` is replaced. */
  localIdentifierSystem: z.string().default('urn:haven:hl7v2:{sender}:id'),
  /** System for an assigning authority known only by its namespace id (CX-4.1) and not in tables/assigning-authorities.json. */
  namespaceSystem: z.string().default('urn:haven:hl7v2:{sender}:{namespace}'),
  /**
   * A message older (MSH-7) than the newest one that already updated a resource: `skip` leaves that
   * resource as the newer message made it (docs/hl7v2.md, "Out-of-order messages"); `apply` writes it anyway.
   */
  staleUpdates: z.enum(['skip', 'apply']).default('skip'),
});
export type Settings = z.infer<typeof settingsSchema>;
