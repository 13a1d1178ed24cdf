import { availableParallelism } from 'node:os';
import type { Queryable } from './db.js';
import { READ_CURRENT, type VersionRow } from './read.js';

/**
 * Reads by id outside transactions, coalesced: the reads asked in one turn of
 * the event loop go together as ONE statement (a join of the ids with
 * `resource` by primary key), and while `maxInFlight` statements are running,
 * new reads wait and go with the next one. An idle server sends a lone read
 * at the end of the turn it was asked in; a busy one sends a batch per round
 * trip instead of a statement per read. What that saves is per statement, not
 * per row: the PostgreSQL backend's wake-up and executor start, the driver's
 * message round trip and result parsing (a `--cpu-prof` of reads at c16 put a
 * third of the server's non-idle samples in the socket write that hands the
 * core to the woken backend).
 */
export interface ReadCoalescer {
  read(tenant: string, type: string, id: string): Promise<VersionRow | undefined>;
}

interface Pending {
  tenant: string;
  type: string;
  id: string;
  resolve(row: VersionRow | undefined): void;
  reject(err: unknown): void;
}

// The ids as a relation joined by primary key. A plan cached for the named statement
// estimates unnest's rows at 100, which keeps the nested loop over the primary key.
const READ_MANY = {
  name: 'store.read-many',
  text: `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content, k.n
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(tenant_id, resource_type, id, n)
         JOIN resource r ON r.tenant_id = k.tenant_id AND r.resource_type = k.resource_type AND r.id = k.id`,
};

export interface ReadCoalescerOptions {
  /** Statements in flight before reads wait to be batched (default: `readsInFlight` of the machine's cores). */
  maxInFlight?: number;
  /** Most reads in one statement (default 64). */
  maxBatch?: number;
}

/**
 * Read statements worth running at once on a machine of `cores` cores: one
 * per core but the one the server's own event loop keeps busy under load. On
 * 2 cores, 1 in flight rather than 2, with the batch cut at the end of the
 * turn, sent audited reads by id at c16 as 0.42 statements per read instead
 * of 0.66 (unaudited 0.15 instead of 0.32) for 11 % less CPU per read
 * (bench/README.md, "Reads by id coalesced").
 */
export function readsInFlight(cores: number): number {
  return Math.max(1, cores - 1);
}

export function createReadCoalescer(q: Queryable, options: ReadCoalescerOptions = {}): ReadCoalescer {
  const maxInFlight = options.maxInFlight ?? readsInFlight(availableParallelism());
  const maxBatch = options.maxBatch ?? 64;
  let queue: Pending[] = [];
  let inFlight = 0;
  // A flush waits for the end of the turn, so the reads that arrived in it go together.
  let scheduled = false;

  async function run(batch: Pending[]): Promise<void> {
    try {
      if (batch.length === 1) {
        const p = batch[0]!;
        const res = await q.query<VersionRow>(READ_CURRENT, [p.tenant, p.type, p.id]);
        p.resolve(res.rows[0]);
        return;
      }
      const res = await q.query<VersionRow & { n: string }>(READ_MANY, [batch.map((p) => p.tenant), batch.map((p) => p.type), batch.map((p) => p.id)]);
      const rows: (VersionRow | undefined)[] = new Array<VersionRow | undefined>(batch.length);
      for (const row of res.rows) rows[Number(row.n) - 1] = row;
      batch.forEach((p, i) => p.resolve(rows[i]));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  function flush(): void {
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      inFlight++;
      void run(batch).finally(() => {
        inFlight--;
        flush();
      });
    }
  }

  return {
    read(tenant, type, id) {
      return new Promise((resolve, reject) => {
        queue.push({ tenant, type, id, resolve, reject });
        if (scheduled || inFlight >= maxInFlight) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          flush();
        });
      });
    },
  };
}
