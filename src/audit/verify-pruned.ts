import { existsSync } from 'node:fs';
import { verifyArchiveDir } from './archive-verify.js';
import { appendLeaf, emptyFrontier, frontierRoot } from './merkle.js';
import type { Checkpoint } from './verify-heads.js';

/**
 * After a prune (migration 038) the log in PostgreSQL starts at the first
 * kept seq K; the entries before it live in the archive. Verification starts
 * at the signed head at K (its stored frontier checked against its root), so
 * the heads at or below K — the database's and the witness's — are checked
 * here against the archive manifests instead (keyless: their leaves, folded
 * from the empty tree, must reach every such head's root, and the archive
 * must reach K). Without the archive directory they are left unchecked and
 * the report says so.
 */
export interface PrunedPrefix {
  /** First kept seq (0: never pruned). */
  firstKept: number;
  prunedAt?: Date;
  /** Archive manifests checked against the heads below the first kept seq. */
  archiveChecked: boolean;
  /** Heads at or below the first kept seq that were compared with the archive. */
  headsChecked: number;
}

export function checkPrunedPrefix(dir: string | undefined, firstKept: number, checkpoints: Checkpoint[], trusted: Buffer[] | undefined, problems: string[]): { archiveChecked: boolean; headsChecked: number } {
  if (firstKept === 0 || dir === undefined || !existsSync(dir)) return { archiveChecked: false, headsChecked: 0 };
  const chain = verifyArchiveDir(dir, trusted);
  problems.push(...chain.problems);
  const end = chain.segments.at(-1)?.to ?? 0;
  if (end < firstKept) problems.push(`the log was pruned before seq ${firstKept} but the archive in ${dir} ends at seq ${end}: entries ${end}..${firstKept - 1} are in neither`);
  const wanted = checkpoints.filter((c) => c.size <= Math.min(firstKept, end)).sort((a, b) => a.size - b.size);
  const frontier = emptyFrontier();
  let next = 0;
  const compare = () => {
    for (; next < wanted.length && wanted[next]!.size === frontier.size; next++) {
      const c = wanted[next]!;
      if (!frontierRoot(frontier).equals(c.root)) problems.push(`${c.label}: its root does not match the archived entries (the archive or the head was altered)`);
    }
  };
  for (const m of chain.segments) {
    if (m.from !== frontier.size) break; // a broken chain is reported above
    for (const [, leaf] of m.leaves) {
      appendLeaf(frontier, Buffer.from(leaf, 'base64'));
      compare();
    }
  }
  return { archiveChecked: true, headsChecked: next };
}
