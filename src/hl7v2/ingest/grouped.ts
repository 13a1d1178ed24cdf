import type { RequestContext } from '../../kernel/index.js';
import type { ConversionResult } from '../model.js';
import { buildAck, type MshHeader } from './ack.js';
import { createGroupCommitter, touchedKeys } from './group-commit.js';
import { pidIdentifiers, searchForms } from './patient-keys.js';
import { entryKey, PATIENT_LOCK_SPACE, type ProcessInput } from './process.js';
import { advanceClocks, clockOf } from './stale-guard.js';
import type { GroupLimits, IngestDeps, IngestResult } from './types.js';

// A transaction of 32 messages (~300 entries) stays well under the Bundle entry limit and
// holds its patient locks for a few tens of milliseconds at most. Two groups in flight, so Node
// converts, validates and encrypts one while PostgreSQL writes the other: on a quiet 2-core
// machine 102-111 messages/s against 73-83 with one, at the same CPU per message; three or four
// cost more CPU per message and gained nothing (docs/hl7v2.md, Benchmarks). The service's
// defaults; the server takes its limits from HAVEN_HL7_GROUP_MESSAGES / HAVEN_HL7_GROUPS_IN_FLIGHT.
const DEFAULTS: GroupLimits = { maxMessages: 32, maxEntries: 400, maxInFlight: 2 };

/**
 * The fast path of original-mode messages: convert at once, then store the
 * message (as processed, with its AA) and its FHIR result in a transaction
 * shared with the messages that arrive meanwhile (group-commit.ts). Returns
 * undefined when the message must take the per-message path instead: it does
 * not convert (the per-message path dead-letters it with the reason), it is a
 * merge (references move in its own transaction), it is a duplicate, or its
 * group failed because of it.
 */
export function createGroupedPath(deps: IngestDeps, limits: Partial<GroupLimits> = {}) {
  const { tenant } = deps;
  const committer = createGroupCommitter({
    apply: deps.applyTransaction,
    insert: (tx, keys, rows) => deps.store.insertProcessed(tx, tenant, { space: PATIENT_LOCK_SPACE, keys }, rows, deps.clock.now()),
    advanceClocks: (tx, clocks) => advanceClocks(tx, tenant, clocks),
    ...DEFAULTS,
    ...limits,
  });

  function convert(input: ProcessInput): ConversionResult | undefined {
    try {
      return deps.converter.convert({ message: input.message, messageId: input.id, sender: input.sender, receivedAt: input.receivedAt });
    } catch {
      return undefined;
    }
  }

  async function ingest(raw: Buffer, input: ProcessInput, h: MshHeader, ctx: RequestContext, channel: string): Promise<IngestResult | undefined> {
    const result = convert(input);
    if (!result || result.merge) return undefined;
    const { message, sender, id } = input;
    const pid = pidIdentifiers(message);
    const lockKey = pid[0] ?? result.patientIdentifiers[0];
    const patientKeys = await Promise.all(searchForms(pid, result.patientIdentifiers).map((v) => deps.blindIndex(tenant, v)));
    const ack = buildAck({ original: h, code: 'AA', now: deps.clock.now() });
    const clock = await clockOf(result, id, (url) => entryKey(deps, url));
    const outcome = await committer.submit({
      ctx,
      row: {
        id, channel, sender, controlId: message.controlId, type: message.type.code, trigger: message.type.trigger, version: message.version,
        patientKeys, raw, receivedAt: input.receivedAt, ack,
      },
      bundle: result.bundle,
      ...(lockKey !== undefined ? { lockKey: `${tenant}|${lockKey}` } : {}),
      keys: [...touchedKeys(result.bundle), `message|${sender}|${message.controlId}`, ...(lockKey !== undefined ? [`patient|${lockKey}`] : [])],
      ...(clock ? { clock } : {}),
    });
    if (outcome !== 'committed') return undefined;
    return { ack, ackCode: 'AA', messageId: id, status: 'processed', duplicate: false };
  }

  return { ingest };
}
