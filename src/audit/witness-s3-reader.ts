import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { objectUrl, s3Failure, s3Request, type S3Target } from './s3-client.js';
import { parseWitness, witnessLines, type WitnessRead } from './witness.js';
import { headsPrefix, type S3WitnessSettings } from './witness-s3.js';

/**
 * Reads the S3 witness back for verification. Object Lock keeps the FIRST
 * version of every object; a later version (someone with write access PUT
 * over it) or a delete marker can hide it from a plain GET. So the reader
 * lists versions and reads each key's oldest version by id, and reports every
 * extra version and delete marker: the bucket saw an attempt to rewrite it.
 */
export interface S3WitnessRead extends WitnessRead {
  /** Rewrite attempts seen in the bucket (extra versions, delete markers). */
  problems: string[];
  objects: number;
}

interface Listed {
  key: string;
  versionId: string;
  deleteMarker: boolean;
}

const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
const unescapeXml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

function parseVersions(xml: string): Listed[] {
  const out: Listed[] = [];
  for (const m of xml.matchAll(/<(Version|DeleteMarker)>([\s\S]*?)<\/\1>/g)) {
    const body = m[2]!;
    out.push({ key: unescapeXml(tag(body, 'Key') ?? ''), versionId: tag(body, 'VersionId') ?? 'null', deleteMarker: m[1] === 'DeleteMarker' });
  }
  return out;
}

/** ListObjectVersions under the heads prefix, every page. */
async function listVersions(t: S3Target, prefix: string): Promise<Listed[]> {
  const all: Listed[] = [];
  let marker: { key: string; version: string } | undefined;
  for (;;) {
    const q = new URLSearchParams({ versions: '', prefix, ...(marker ? { 'key-marker': marker.key, 'version-id-marker': marker.version } : {}) });
    const res = await s3Request(t, 'GET', `${t.url.replace(/\/+$/, '')}/${t.bucket}?${q.toString()}`);
    if (res.status !== 200) throw s3Failure('ListObjectVersions', res);
    all.push(...parseVersions(res.body));
    if (tag(res.body, 'IsTruncated') !== 'true') return all;
    marker = { key: unescapeXml(tag(res.body, 'NextKeyMarker') ?? ''), version: tag(res.body, 'NextVersionIdMarker') ?? '' };
  }
}

export async function readS3Witness(settings: S3WitnessSettings): Promise<S3WitnessRead> {
  const listed = await listVersions(settings, headsPrefix(settings));
  const byKey = new Map<string, Listed[]>();
  for (const v of listed) byKey.set(v.key, [...(byKey.get(v.key) ?? []), v]);
  const out: S3WitnessRead = { records: [], malformed: [], problems: [], objects: 0 };
  for (const key of [...byKey.keys()].sort()) {
    // S3 lists a key's versions newest first: the oldest is the locked original.
    const versions = byKey.get(key)!.reverse();
    const first = versions.find((v) => !v.deleteMarker);
    if (versions.length > 1) out.problems.push(`S3 witness object ${key}: ${versions.length - 1} later version(s) or delete marker(s) after the locked original; the original is used`);
    if (!first) {
      out.problems.push(`S3 witness object ${key}: only delete markers, no content`);
      continue;
    }
    const res = await s3Request(settings, 'GET', objectUrl(settings, key, `versionId=${encodeURIComponent(first.versionId)}`));
    if (res.status !== 200) throw s3Failure(`GET ${key}`, res);
    const read = parseWitness(res.body);
    out.records.push(...read.records);
    if (read.malformed.length > 0) out.problems.push(`S3 witness object ${key}: malformed line(s) ${read.malformed.join(', ')}`);
    out.objects++;
  }
  out.records.sort((a, b) => a.treeSize - b.treeSize);
  return out;
}

/**
 * The documented download step for offline verification: writes the bucket's heads as a witness
 * file, then `haven audit verify --witness PATH` checks them like the local witness.
 */
export async function downloadS3Witness(settings: S3WitnessSettings, path: string): Promise<S3WitnessRead> {
  const read = await readS3Witness(settings);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, witnessLines(read.records), { mode: 0o640 });
  return read;
}
