import type { Queryable } from './db.js';

/** A statement whose result nobody reads: it can ride along in another statement's WITH list. */
export interface Deferred {
  text: string;
  params: unknown[];
}

const WRITE_ONLY = /^\s*(INSERT|DELETE)\b/i;

/**
 * A Queryable that collects write-only statements (INSERT/DELETE without
 * RETURNING) instead of sending them, so the caller can send them all with
 * its own statement in ONE round trip. Anything else (a SELECT whose rows the
 * callee needs) goes to the real transaction at once. The callee must not
 * depend on the order between a collected write and a passed-through read.
 */
export function collectingQueryable(tx: Queryable): { q: Queryable; deferred: Deferred[] } {
  const deferred: Deferred[] = [];
  const q: Queryable = {
    query: async (sql, params) => {
      const text = typeof sql === 'string' ? sql : sql.text;
      if (!WRITE_ONLY.test(text) || /\bRETURNING\b/i.test(text)) return tx.query(sql, params);
      deferred.push({ text, params: params ?? [] });
      return { rows: [], rowCount: 0, command: '', oid: 0, fields: [] };
    },
  };
  return { q, deferred };
}

/**
 * `WITH name AS (statement), …` entries for the deferred statements, their
 * placeholders renumbered after the `params` already used (which the call
 * extends). Data-modifying WITH entries run once each even when unreferenced,
 * and all of them see the snapshot from before the statement: a DELETE of a
 * resource's old index rows never sees the rows its sibling INSERT adds.
 */
export function withEntries(deferred: Deferred[], params: unknown[], prefix: string): string[] {
  return deferred.map((d, i) => {
    const offset = params.length;
    params.push(...d.params);
    const text = d.text.replace(/\$(\d+)/g, (_m, n: string) => `$${Number(n) + offset}`);
    return `${prefix}${i} AS (${text})`;
  });
}
