import type { ConversionInput } from '../model.js';
import type { Obj, Produced } from './run-state.js';
import { deterministicUuid, identifierCriteria } from './ids.js';

export const MESSAGE_SYSTEM = 'urn:haven:hl7v2-message';
export const SENDER_SYSTEM = 'urn:haven:hl7v2-sender';

/** resourceType and id first, then the rest in the order the rules set them: stable output for equal input. */
function ordered(p: Produced, withId: boolean): Obj {
  const { resourceType: _t, ...rest } = p.resource;
  return withId ? { resourceType: p.resourceType, id: p.id, ...rest } : { resourceType: p.resourceType, ...rest };
}

/** One transaction entry per produced resource, written as its template says. */
export function entryOf(p: Produced): Obj {
  switch (p.write) {
    case 'update':
      return { fullUrl: p.fullUrl, resource: ordered(p, true), request: { method: 'PUT', url: `${p.resourceType}/${p.id}` } };
    case 'conditional-update': {
      const criteria = identifierCriteria(p.identity!.system, p.identity!.value);
      return { fullUrl: p.fullUrl, resource: ordered(p, false), request: { method: 'PUT', url: `${p.resourceType}?${criteria}` } };
    }
    case 'conditional-create': {
      const criteria = identifierCriteria(p.identity!.system, p.identity!.value);
      return { fullUrl: p.fullUrl, resource: ordered(p, false), request: { method: 'POST', url: p.resourceType, ifNoneExist: criteria } };
    }
  }
}

/**
 * One Provenance per message: every produced resource as a target, the
 * stored message (Haven's message id) as the source entity, the sender as
 * the agent. Its id derives from the message id, so a replay updates it.
 */
export function provenanceEntry(input: ConversionInput, produced: Produced[], occurred: string | undefined): Obj {
  const id = deterministicUuid(`Provenance|${MESSAGE_SYSTEM}|${input.messageId}`);
  const t = input.message.type;
  const label = `HL7 v2 ${t.code}^${t.trigger} ${input.message.controlId} from ${input.sender}`;
  const resource: Obj = {
    resourceType: 'Provenance',
    id,
    target: produced.map((p) => ({ reference: p.fullUrl })),
    ...(occurred !== undefined ? { occurredDateTime: occurred } : {}),
    recorded: input.receivedAt.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' }] },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        who: { identifier: { system: SENDER_SYSTEM, value: input.sender }, display: input.sender },
      },
    ],
    entity: [
      {
        role: 'source',
        what: { identifier: { system: MESSAGE_SYSTEM, value: input.messageId }, display: label },
      },
    ],
  };
  return { fullUrl: `urn:uuid:${id}`, resource, request: { method: 'PUT', url: `Provenance/${id}` } };
}
