import { isHavenError, type RequestContext } from '../../kernel/index.js';
import type { Queryable } from '../../store/index.js';
import type { ConversionResult } from '../model.js';
import type { ProcessedRow } from './message-store.js';
import { StaleUpdates, type MessageClock } from './stale-guard.js';
import type { ApplyTransaction } from './types.js';

/** One converted message waiting for a shared transaction. */
export interface GroupItem {
  ctx: RequestContext;
  row: ProcessedRow;
  bundle: ConversionResult['bundle'];
  /** The per-patient ordering lock key (already tenant-qualified), when the message has a patient. */
  lockKey?: string;
  /** What the message touches: two messages sharing one never go into the same group. */
  keys: string[];
  /** Its updates' clocks (stale-guard.ts); a message with an out-of-date update leaves the group. */
  clock?: MessageClock;
}

/** `committed`: durable with its FHIR result, answer AA. `alone`: run it on the per-message path. */
export type GroupOutcome = 'committed' | 'alone';

export interface GroupCommitOptions {
  apply: ApplyTransaction;
  /** Takes the patient locks, inserts the rows as processed; returns the ids inserted (a missing one is a duplicate). */
  insert(tx: Queryable, lockKeys: string[], rows: ProcessedRow[]): Promise<Set<string>>;
  /** Moves the messages' clocks forward after the patient locks; returns the out-of-date updates by message id. */
  advanceClocks(tx: Queryable, clocks: MessageClock[]): Promise<Map<string, number[]>>;
  maxMessages: number;
  maxEntries: number;
  /** Groups written at once (each its own transaction and connection). */
  maxInFlight: number;
}

interface Pending {
  item: GroupItem;
  tries: number;
  resolve(outcome: GroupOutcome): void;
}

/** A message of the group was already stored (resend, concurrent copy): roll back, retry without it. */
class Duplicates extends Error {
  constructor(readonly ids: Set<string>) {
    super('duplicate messages in the group');
  }
}

/** The principal the writes run under: only messages of one principal share a transaction. */
function principalKey(ctx: RequestContext): string {
  const p = ctx.principal;
  return JSON.stringify([ctx.tenant, ctx.sourceIp, p?.subject, p?.clientId, p?.kind, p?.scopes]);
}

/**
 * Group commit of converted messages. Messages that arrive while a group is
 * being written queue up and are written together in ONE database transaction
 * as ONE merged transaction Bundle (the FHIR processor writes a Bundle with a
 * fixed number of statements, so per-message statements and the commit's WAL
 * flush are shared). Nothing is acknowledged before that commit. Messages
 * touching the same patient, resource or control id go to successive groups,
 * in arrival order. When a group fails, the message the error names (or the
 * duplicates) leaves it for the per-message path and the rest are retried
 * once as a group; after that, every message goes alone.
 */
export function createGroupCommitter(options: GroupCommitOptions) {
  const queue: Pending[] = [];
  /** Keys of the groups being written: a message sharing one waits for that commit. */
  const busy = new Set<string>();
  let inFlight = 0;

  function submit(item: GroupItem): Promise<GroupOutcome> {
    return new Promise((resolve) => {
      queue.push({ item, tries: 0, resolve });
      pump();
    });
  }

  /** Starts groups while fewer than `maxInFlight` are being written: one converts and validates while another waits for the database. */
  function pump(): void {
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const group = take();
      if (group.length === 0) return;
      const keys = group.flatMap((p) => p.item.keys);
      for (const k of keys) busy.add(k);
      inFlight += 1;
      void flush(group).finally(() => {
        for (const k of keys) busy.delete(k);
        inFlight -= 1;
        pump();
      });
    }
  }

  /** The next group, in arrival order; a message that conflicts also holds back later ones that share a key with it. */
  function take(): Pending[] {
    const group: Pending[] = [];
    const principal = principalKey(queue[0]!.item.ctx);
    const used = new Set<string>();
    const held = new Set<string>();
    let entries = 0;
    for (let i = 0; i < queue.length && group.length < options.maxMessages; i++) {
      const p = queue[i]!;
      const n = p.item.bundle.entry.length;
      const clash = p.item.keys.some((k) => used.has(k) || held.has(k) || busy.has(k));
      if (clash || principalKey(p.item.ctx) !== principal || (group.length > 0 && entries + n > options.maxEntries)) {
        for (const k of p.item.keys) held.add(k);
        continue;
      }
      group.push(p);
      entries += n;
      for (const k of p.item.keys) used.add(k);
      queue.splice(i, 1);
      i -= 1;
    }
    return group;
  }

  async function flush(group: Pending[]): Promise<void> {
    const entry = group.flatMap((p) => p.item.bundle.entry);
    const lockKeys = [...new Set(group.flatMap((p) => (p.item.lockKey === undefined ? [] : [p.item.lockKey])))].sort();
    try {
      await options.apply(group[0]!.item.ctx, { resourceType: 'Bundle', type: 'transaction', entry }, {
        before: async (tx) => {
          const inserted = await options.insert(tx, lockKeys, group.map((p) => p.item.row));
          if (inserted.size !== group.length) throw new Duplicates(new Set(group.map((p) => p.item.row.id).filter((id) => !inserted.has(id))));
          const stale = await options.advanceClocks(tx, group.flatMap((p) => (p.item.clock ? [p.item.clock] : [])));
          if (stale.size > 0) throw new StaleUpdates(stale);
        },
        after: async () => undefined,
      });
    } catch (err) {
      retry(group, culprits(group, err));
      return;
    }
    for (const p of group) p.resolve('committed');
  }

  /** The culprits go alone; the others go back to the head of the queue once, else alone too. */
  function retry(group: Pending[], out: Set<Pending> | undefined): void {
    const again: Pending[] = [];
    for (const p of group) {
      if (out === undefined || out.has(p) || p.tries >= 1 || group.length === 1) p.resolve('alone');
      else again.push({ ...p, tries: p.tries + 1 });
    }
    queue.unshift(...again);
  }

  return { submit };
}

/** Which messages the error names: the duplicates, or the one whose Bundle entry failed; undefined when unknown. */
function culprits(group: Pending[], err: unknown): Set<Pending> | undefined {
  if (err instanceof Duplicates) return new Set(group.filter((p) => err.ids.has(p.item.row.id)));
  // Out of date: the per-message path demotes its older updates and writes the rest.
  if (err instanceof StaleUpdates) return new Set(group.filter((p) => err.stale.has(p.item.row.id)));
  if (!isHavenError(err) || err.category === 'unavailable') return undefined;
  const indexes = new Set(err.issues.map((i) => /^Bundle\.entry\[(\d+)\]/.exec(i.expression?.[0] ?? '')?.[1]));
  if (indexes.size !== 1) return undefined;
  const [index] = [...indexes];
  if (index === undefined) return undefined;
  let at = Number(index);
  for (const p of group) {
    at -= p.item.bundle.entry.length;
    if (at < 0) return new Set([p]);
  }
  return undefined;
}

export type GroupCommitter = ReturnType<typeof createGroupCommitter>;

/** The identities a converted Bundle touches: fullUrls, PUT targets, conditional-create criteria. */
export function touchedKeys(bundle: ConversionResult['bundle']): string[] {
  const keys: string[] = [];
  for (const e of bundle.entry as { fullUrl?: string; request?: { method?: string; url?: string; ifNoneExist?: string } }[]) {
    if (e.fullUrl) keys.push(e.fullUrl);
    const r = e.request;
    // A plain POST creates a new resource: its URL (the type) identifies nothing.
    if (r?.url && r.method === 'POST') {
      if (r.ifNoneExist) keys.push(`${r.url}?${r.ifNoneExist}`);
    } else if (r?.url) {
      keys.push(r.url);
    }
  }
  return keys;
}
