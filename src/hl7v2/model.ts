/**
 * The HL7 v2 message model shared by the parser, the converter and the
 * listener. Values returned by `get` are decoded text (escape sequences
 * resolved, character set applied); `raw` keeps the exact received text so a
 * well-formed message serializes back to its original bytes.
 *
 * Paths (1-based, as HL7 numbers them):
 *   message level  `PID-3`, `PID-3[2].1`, `OBX[2]-5.1`, `MSH-9.2`
 *   segment level  `3`, `3[2].1`, `5.1.2`
 * A missing repetition index means the first repetition; a missing component
 * or subcomponent index means the first one. MSH-1 is the field separator and
 * MSH-2 the encoding characters, as the standard counts them.
 */

export interface Delimiters {
  /** Field separator, MSH-1 (usually `|`). */
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+ truncation character, when MSH-2 declares one. */
  truncation?: string;
}

/** A segment-level path split into its 1-based indexes (`3[2].1.1`). */
export interface Hl7ValuePath {
  readonly segmentIndex: number;
  readonly field: number;
  readonly repetition: number;
  readonly component: number;
  readonly subcomponent: number;
}

export interface Hl7Segment {
  /** Segment id: `MSH`, `PID`, `OBX`, `ZPI`, … */
  readonly name: string;
  /** Highest field number present (MSH counts MSH-1 and MSH-2). */
  readonly fieldCount: number;
  /** The segment's exact text, without its terminator. */
  readonly raw: string;
  /** Decoded value at a segment-level path; undefined when absent or empty. */
  get(path: string): string | undefined;
  /**
   * Optional fast path for `get` with the path already split (all indexes
   * 1-based): the converter reads thousands of values per second and skips
   * building and parsing path strings when the segment offers this.
   */
  valueAt?(path: Hl7ValuePath): string | undefined;
  /** How many repetitions field `field` has (0 when empty). */
  repetitions(field: number): number;
}

export interface Hl7MessageType {
  /** MSH-9.1, e.g. `ADT`. */
  code: string;
  /** MSH-9.2, e.g. `A01`. */
  trigger: string;
  /** MSH-9.3, e.g. `ADT_A01`, when sent. */
  structure?: string;
}

export interface Hl7Message {
  readonly delimiters: Delimiters;
  readonly segments: readonly Hl7Segment[];
  /** The terminator the message used (`\r`, `\n` or `\r\n`). */
  readonly segmentTerminator: string;
  /** MSH-18 as declared, or `ASCII` when absent. */
  readonly charset: string;
  /** MSH-12.1, e.g. `2.5.1`. */
  readonly version: string;
  readonly type: Hl7MessageType;
  /** MSH-10. */
  readonly controlId: string;
  /** Decoded value at a message-level path (first matching segment unless indexed). */
  get(path: string): string | undefined;
  /** All segments with this id, in order. */
  segmentsNamed(name: string): Hl7Segment[];
}

/** What the converter needs besides the message itself. */
export interface ConversionInput {
  message: Hl7Message;
  /** Haven's id of the stored message (Provenance points at it). */
  messageId: string;
  /** The sending application/facility (MSH-3^MSH-4), the key templates and deduplication use. */
  sender: string;
  receivedAt: Date;
}

export interface ConversionResult {
  /** A FHIR R4 transaction Bundle: conditional creates/updates so the same message twice gives the same result. */
  bundle: { resourceType: 'Bundle'; type: 'transaction'; entry: unknown[] };
  /** `system|value` identifiers of the message's patient (ordering, message search); empty when none. */
  patientIdentifiers: string[];
  /** A40-style merge: the surviving and the retired patient identifiers, for the ingester to move references. */
  merge?: { survivor: string; retired: string };
  /**
   * MSH-7 as an instant (its zone, else the settings' default zone): the time the ingester orders
   * updates by. Absent when MSH-7 has no time or no known zone, or the settings say `staleUpdates: apply`.
   */
  sentAt?: string;
  /** Mapping notes that did not stop the conversion (unknown code systems, dropped fields). No PHI values. */
  warnings: string[];
}

/**
 * Converts one parsed message with the declarative templates. Throws a
 * HavenError (`HL7_NO_TEMPLATE`, `HL7_CONVERSION_FAILED`) that the listener
 * turns into an AE acknowledgment with the reason.
 */
export interface Hl7Converter {
  convert(input: ConversionInput): ConversionResult;
}
