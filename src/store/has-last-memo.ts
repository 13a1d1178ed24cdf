/**
 * The has-last choice of recent `_has` searches (src/search/has-last.ts), so
 * that the same criteria asked again soon — the next pages of a search, which
 * differ only in their offset, or a client polling one search — skip the
 * planning-only EXPLAIN that made it: one round trip and one planning of the
 * candidate and `_has` sets per page.
 *
 * A stale choice can only be the slower form, never other rows: both forms
 * return the same rows in the same order. The time bound keeps it close to
 * the planner's current statistics. Keys are SHA-256 digests of the estimate
 * statement and its values (tenant first), so the memo holds no search value
 * in clear.
 */
import { createHash } from 'node:crypto';
import type { CompiledSql } from '../search/index.js';

export interface HasLastMemo {
  /** The remembered choice for this estimate statement, or undefined when none or expired. */
  get(estimate: CompiledSql): boolean | undefined;
  remember(estimate: CompiledSql, hasLast: boolean): void;
  readonly size: number;
}

export interface HasLastMemoOptions {
  /** How long a choice holds; default 30 s. */
  ttlMs?: number;
  /** Choices held at most; the oldest goes first. Default 512. */
  maxEntries?: number;
  /** Milliseconds now; default Date.now. */
  now?: () => number;
}

export function createHasLastMemo(options: HasLastMemoOptions = {}): HasLastMemo {
  const ttlMs = options.ttlMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 512;
  const now = options.now ?? Date.now;
  // Insertion order is age order: a choice is re-inserted when made again, never refreshed on a hit.
  const choices = new Map<string, { hasLast: boolean; until: number }>();

  return {
    get(estimate) {
      const key = keyOf(estimate);
      const held = choices.get(key);
      if (!held) return undefined;
      if (held.until <= now()) {
        choices.delete(key);
        return undefined;
      }
      return held.hasLast;
    },
    remember(estimate, hasLast) {
      const key = keyOf(estimate);
      choices.delete(key);
      choices.set(key, { hasLast, until: now() + ttlMs });
      while (choices.size > maxEntries) choices.delete(choices.keys().next().value as string);
    },
    get size() {
      return choices.size;
    },
  };
}

/** The statement and its values, unambiguously: each value typed, Buffers (blind tags) as hex. */
function keyOf(estimate: CompiledSql): string {
  const h = createHash('sha256').update(estimate.sql).update('\u0000');
  for (const v of estimate.params) {
    if (Buffer.isBuffer(v)) h.update(`b:${v.toString('hex')}`);
    else h.update(`${typeof v}:${JSON.stringify(v, bigintAsText) ?? ''}`);
    h.update('\u0000');
  }
  return h.digest('base64');
}

/** JSON.stringify throws on a bigint; a parameter (or an array element) may be one. */
function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}
