import { splitBatch, type Hl7BatchGroup } from '../batch.js';
import type { Hl7Segment } from '../model.js';
import { parseMessage } from '../parse.js';
import { hl7Timestamp, newControlId } from './ack.js';
import { pidIdentifiers } from './patient-keys.js';
import type { IngestResult, IngestSource } from './types.js';

/**
 * Batches (HL7 v2 chapter 2.10: FHS, BHS, messages, BTS, FTS), as hospitals send backloads and
 * registries nightly files. The envelope is checked first (order, BTS/FTS counts): a batch whose
 * envelope is wrong is refused whole, nothing stored. Then every message goes through the same
 * ingestion as a single one — stored once, converted, acknowledged, a malformed one answered AR on
 * its own while the others go through. Messages about one patient are applied in batch order;
 * others run side by side (up to WINDOW at once) so they share group commits. The answer is a batch
 * of acknowledgments with the same envelope, each header naming the one it answers.
 */
const WINDOW = 32;

export interface BatchOutcome {
  /** One per message, in batch order. */
  results: IngestResult[];
  /** The acknowledgment batch (segments separated by CR). */
  ack: string;
}

type Ingest = (raw: Buffer, source: IngestSource) => Promise<IngestResult>;

export async function ingestBatch(ingest: Ingest, raw: Buffer, source: IngestSource, now: Date): Promise<BatchOutcome> {
  const batch = splitBatch(raw);
  const results = await inOrderPerPatient(batch.messages, (message) => ingest(message, source));
  let at = 0;
  const groups = batch.batches.map((group) => {
    const answered = results.slice(at, (at += group.messages.length));
    return { group, acks: answered.flatMap((r) => (r.ack === undefined ? [] : [r.ack])) };
  });
  return { results, ack: batchAck(batch.fileHeader, groups, now) };
}

/**
 * Runs `work` for every message, at most WINDOW at a time; a message waits until the previous
 * message about the same patient (first PID-3) is finished, its enhanced-mode processing included.
 */
async function inOrderPerPatient(messages: Buffer[], work: (message: Buffer) => Promise<IngestResult>): Promise<IngestResult[]> {
  const last = new Map<string, Promise<unknown>>();
  const running = new Set<Promise<unknown>>();
  const results: Promise<IngestResult>[] = [];
  for (const message of messages) {
    while (running.size >= WINDOW) await Promise.race(running);
    const key = patientOf(message);
    const before = key === undefined ? undefined : last.get(key);
    const result = (async () => {
      if (before) await before.catch(() => undefined);
      const r = await work(message);
      await r.pending;
      return r;
    })();
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    running.add(settled);
    void settled.then(() => running.delete(settled));
    if (key !== undefined) last.set(key, settled);
    results.push(result);
  }
  return Promise.all(results);
}

/** The first PID-3 of a message, for ordering; undefined when it has none or does not parse (it will be refused on its own). */
function patientOf(message: Buffer): string | undefined {
  try {
    return pidIdentifiers(parseMessage(message))[0];
  } catch {
    return undefined;
  }
}

/** FHS/BHS answering `header`: sender and receiver swapped, its own control id, `header`'s in the reference field (n = 12). */
function answerHeader(name: 'FHS' | 'BHS', header: Hl7Segment | undefined, now: Date): string {
  const raw = header?.raw ?? `${name}|^~\\&`;
  const field = raw[3] ?? '|';
  const f = raw.split(field);
  const at = (n: number) => f[n - 1] ?? '';
  return [name, at(2) || '^~\\&', at(5), at(6), at(3), at(4), hl7Timestamp(now), '', '', '', newControlId(), at(11)].join(field);
}

function batchAck(fileHeader: Hl7Segment | undefined, groups: { group: Hl7BatchGroup<Buffer>; acks: string[] }[], now: Date): string {
  const field = fileHeader?.raw[3] ?? groups[0]?.group.header?.raw[3] ?? '|';
  const segments: string[] = [];
  if (fileHeader) segments.push(answerHeader('FHS', fileHeader, now));
  for (const { group, acks } of groups) {
    segments.push(answerHeader('BHS', group.header, now), ...acks, ['BTS', String(acks.length)].join(field));
  }
  if (fileHeader) segments.push(['FTS', String(groups.length)].join(field));
  return segments.join('\r');
}
