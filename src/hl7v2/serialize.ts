import { encodeText, encodingOf } from './charset.js';
import { ParsedMessage } from './message.js';
import type { Hl7Message } from './model.js';

/**
 * The message as text: segment texts joined by their terminators. A parsed
 * message keeps its exact terminator runs (and byte order mark), so a
 * well-formed input comes back unchanged; any other Hl7Message gets its
 * `segmentTerminator` after every segment.
 */
export function serializeText(msg: Hl7Message): string {
  const layout = msg instanceof ParsedMessage ? msg.layout : undefined;
  const parts: string[] = layout?.bom ? ['\uFEFF'] : [];
  msg.segments.forEach((segment, i) => {
    parts.push(segment.raw, layout ? (layout.separators[i] ?? '') : msg.segmentTerminator);
  });
  return parts.join('');
}

/** The message as bytes in its character set (MSH-18). Throws HL7_UNENCODABLE for text the set cannot hold. */
export function serializeMessage(msg: Hl7Message): Buffer {
  const encoding = msg instanceof ParsedMessage ? msg.layout.encoding : encodingOf(msg.charset);
  return encodeText(serializeText(msg), encoding, msg.charset);
}
