import { randomInt } from 'node:crypto';
import { verifyConsistency, verifyEntryInclusion } from './proof-verify.js';
import { publicKeyFromRaw, verifyTreeHead } from './tree-head.js';
import type { WitnessRecord } from './witness.js';

/**
 * `haven audit verify --url`: checks a running server's log through its API
 * only, the way a third party holding a copy of the witness would — no
 * database access, nothing of Haven but the RFC 9162 checks (proof-verify.ts)
 * and Ed25519. The server's newest signed head must verify under a key the
 * witness knows; every witnessed head (or an even sample of them, always
 * with the first and the last) must be consistent with it, so the served log
 * is an append-only extension of everything witnessed; and sampled entries
 * must be included in it, their bytes hashing to the leaf the proof uses.
 */
export interface RemoteVerifyOptions {
  /** GET of a path under the server's base URL with the auditor's token; JSON body. */
  get(path: string): Promise<{ status: number; body: unknown }>;
  witness: WitnessRecord[];
  /** Witnessed heads checked for consistency at most (default 50). */
  maxHeads?: number;
  /** Entries checked for inclusion (default 20; all when the log is smaller). */
  sampleEntries?: number;
}

export interface RemoteVerifyReport {
  ok: boolean;
  treeSize: number;
  /** The server pruned the entries before this seq (0: none): witnessed heads below it are the archive's to check. */
  firstKept: number;
  /** Witnessed heads below the first kept seq, not checkable through the API. */
  prunedHeads: number;
  headsChecked: number;
  entriesChecked: number;
  problems: string[];
}

type HeadBody = WitnessRecord & { firstKeptSeq?: number };
interface InclusionBody {
  leafIndex: number;
  treeSize: number;
  entry?: string;
  inclusionPath: string[];
}
interface ConsistencyBody {
  consistencyPath: string[];
}

const b64 = (s: string) => Buffer.from(s, 'base64');

export async function verifyRemoteLog(o: RemoteVerifyOptions): Promise<RemoteVerifyReport> {
  const problems: string[] = [];
  let firstKept = 0;
  let prunedHeads = 0;
  const report = (treeSize: number, headsChecked: number, entriesChecked: number): RemoteVerifyReport => ({ ok: problems.length === 0, treeSize, firstKept, prunedHeads, headsChecked, entriesChecked, problems });
  const res = await o.get('/audit/tree-head');
  if (res.status !== 200) throw new Error(`GET /audit/tree-head answered ${res.status}`);
  const head = res.body as HeadBody;
  const trusted = new Set(o.witness.map((w) => w.publicKey));
  if (trusted.size > 0 && !trusted.has(head.publicKey)) problems.push(`the server's newest head (size ${head.treeSize}) is signed by key ${head.keyId}, which the witness never saw: the log was replaced`);
  if (!verifyTreeHead(head, publicKeyFromRaw(b64(head.publicKey)))) problems.push(`the server's newest head (size ${head.treeSize}) has a bad signature`);
  const root = b64(head.rootHash);
  // A pruned server proves nothing before its first kept seq (the archive does, offline): those witness
  // heads are counted, not checked; the server's own head there must be one the witness agrees with.
  firstKept = Number.isSafeInteger(head.firstKeptSeq) && head.firstKeptSeq! > 0 ? Math.min(head.firstKeptSeq!, head.treeSize) : 0;
  const witnessed = o.witness.filter((w) => w.treeSize >= firstKept);
  prunedHeads = o.witness.length - witnessed.length;
  if (firstKept > 0 && !witnessed.some((w) => w.treeSize === firstKept)) await checkPrunePoint(o, firstKept, head.treeSize, root, trusted, problems);

  let headsChecked = 0;
  for (const w of pickHeads(witnessed, o.maxHeads ?? 50)) {
    headsChecked++;
    if (!verifyTreeHead(w, publicKeyFromRaw(b64(w.publicKey)))) {
      problems.push(`witness head at size ${w.treeSize} has a bad signature (the witness copy itself is damaged)`);
      continue;
    }
    if (w.treeSize > head.treeSize) {
      problems.push(`log truncated: the witness holds a head at size ${w.treeSize}, the server's newest head is at size ${head.treeSize}`);
      continue;
    }
    if (w.treeSize === head.treeSize) {
      if (w.rootHash !== head.rootHash) problems.push(`witness head at size ${w.treeSize}: the server's head of the same size has another root (the log was rewritten)`);
      continue;
    }
    const proof = await o.get(`/audit/proof/consistency?from=${w.treeSize}&to=${head.treeSize}`);
    if (proof.status !== 200) {
      problems.push(`witness head at size ${w.treeSize}: the server has no signed head of that size (HTTP ${proof.status}); the log was rewritten or truncated`);
      continue;
    }
    const path = (proof.body as ConsistencyBody).consistencyPath.map(b64);
    if (!verifyConsistency(w.treeSize, head.treeSize, path, b64(w.rootHash), root)) {
      problems.push(`witness head at size ${w.treeSize} is not consistent with the server's head at size ${head.treeSize}: entries before seq ${w.treeSize} were altered, reordered or removed`);
    }
  }

  const seqs = sampleSeqs(head.treeSize - firstKept, o.sampleEntries ?? 20).map((s) => s + firstKept);
  for (const seq of seqs) {
    const proof = await o.get(`/audit/proof/inclusion?seq=${seq}&treeSize=${head.treeSize}`);
    if (proof.status !== 200) {
      problems.push(`seq ${seq}: no inclusion proof (HTTP ${proof.status})`);
      continue;
    }
    const body = proof.body as InclusionBody;
    if (body.entry === undefined) {
      problems.push(`seq ${seq}: the server has no entry at this position (deleted)`);
      continue;
    }
    if (!verifyEntryInclusion(b64(body.entry), seq, head.treeSize, body.inclusionPath.map(b64), root)) {
      problems.push(`seq ${seq}: the entry the server holds is not the one the signed tree includes (altered)`);
    }
  }
  return report(head.treeSize, headsChecked, seqs.length);
}

/** The server's signed head at its first kept seq (no witness line of that size): signed by a trusted key, consistent with the newest. */
async function checkPrunePoint(o: RemoteVerifyOptions, size: number, newest: number, newestRoot: Buffer, trusted: Set<string>, problems: string[]): Promise<void> {
  if (size === newest) return;
  const res = await o.get(`/audit/proof/consistency?from=${size}&to=${newest}`);
  if (res.status !== 200) {
    problems.push(`the server says it pruned before seq ${size} but has no consistency proof from its head there (HTTP ${res.status})`);
    return;
  }
  const body = res.body as ConsistencyBody & { firstHead: WitnessRecord };
  const first = body.firstHead;
  if (trusted.size > 0 && !trusted.has(first.publicKey)) problems.push(`the server's head at its first kept seq ${size} is signed by a key the witness never saw`);
  if (first.treeSize !== size || !verifyTreeHead(first, publicKeyFromRaw(b64(first.publicKey)))) problems.push(`the server's head at its first kept seq ${size} has a bad signature`);
  else if (!verifyConsistency(size, newest, body.consistencyPath.map(b64), b64(first.rootHash), newestRoot)) {
    problems.push(`the server's head at its first kept seq ${size} is not consistent with its newest head`);
  }
}

/** Every head when there are few; else the first, the last and an even spread between. */
function pickHeads(heads: WitnessRecord[], max: number): WitnessRecord[] {
  if (heads.length <= max) return heads;
  const step = (heads.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => heads[Math.round(i * step)]!);
}

/** All seqs of a small log; otherwise the first, the last and random ones between. */
function sampleSeqs(size: number, n: number): number[] {
  if (size === 0) return [];
  if (size <= n) return Array.from({ length: size }, (_, i) => i);
  const picked = new Set([0, size - 1]);
  while (picked.size < n) picked.add(randomInt(size));
  return [...picked].sort((a, b) => a - b);
}
