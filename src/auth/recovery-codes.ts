import { randomBytes } from 'node:crypto';
import type { TenantId } from '../kernel/index.js';
import type { Db } from '../store/index.js';
import { createDecoyHash, hashPassword, verifyPassword } from './passwords.js';
import type { ScryptCost } from './passwords.js';

/**
 * One-time recovery codes for TOTP (table totp_recovery_code): ten codes shown
 * once at enrolment (or when the user makes a new set), each of which stands in
 * for one authenticator code at the MFA step, once.
 *
 * A code is 16 characters of Crockford's base32 (80 random bits), shown as
 * `xxxx-xxxx-xxxx-xxxx`. Its first four characters (the selector) are stored in
 * the clear to find its row; the whole code is stored only as a scrypt hash in
 * the password format, so a copy of the database leaves 60 unknown random bits
 * behind a memory-hard hash for each code.
 */
export interface RecoveryCodeStore {
  /** A new set of codes for the user, replacing any earlier set; the only time the codes exist in the clear. */
  issue(tenant: TenantId, userId: string, now: Date): Promise<string[]>;
  /** Accepts a typed code once: the row goes in the statement that accepts it. `remaining` counts the codes left. */
  consume(tenant: TenantId, userId: string, typed: string): Promise<{ ok: true; remaining: number } | { ok: false }>;
  remaining(tenant: TenantId, userId: string): Promise<number>;
}

export const RECOVERY_CODE_COUNT = 10;

/**
 * Lower than the password cost (N=2^16): the input is 60 random bits, not a
 * human password, so 16 MiB per guess already puts an offline search out of reach,
 * and ten codes hash in well under a second at enrolment.
 */
export const RECOVERY_SCRYPT_COST: ScryptCost = { N: 16384, r: 8, p: 1 };

// Crockford's base32 in lower case: no i, l, o or u, so nothing reads as another character.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_CHARS = 16;
const SELECTOR_CHARS = 4;
const CODE_PATTERN = /^[0-9a-hjkmnp-tv-z]{16}$/;

/** 16 random characters (each byte's low five bits: 256 is a multiple of 32, so no bias). */
export function newRecoveryCode(): string {
  return [...randomBytes(CODE_CHARS)].map((b) => ALPHABET[b & 31]).join('');
}

/** `xxxx-xxxx-xxxx-xxxx`, as shown to the user. */
export function formatRecoveryCode(code: string): string {
  return code.replace(/(.{4})(?=.)/g, '$1-');
}

/**
 * The canonical form of a typed code, or undefined: case, spaces and dashes do
 * not matter, and i/l and o are read as 1 and 0 (Crockford's decoding rules).
 */
export function normaliseRecoveryCode(typed: string): string | undefined {
  const code = typed.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0');
  return CODE_PATTERN.test(code) ? code : undefined;
}

export function createRecoveryCodeStore(deps: { db: Db; cost?: ScryptCost }): RecoveryCodeStore {
  const { db } = deps;
  const cost = deps.cost ?? RECOVERY_SCRYPT_COST;
  let decoy: Promise<string> | undefined;
  const remaining = async (tenant: TenantId, userId: string) =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM totp_recovery_code WHERE tenant_id = $1 AND user_id = $2', [tenant, userId])).rows[0]?.n ?? 0);

  return {
    async issue(tenant, userId, now) {
      const codes: string[] = [];
      const selectors = new Set<string>();
      while (codes.length < RECOVERY_CODE_COUNT) {
        const code = newRecoveryCode();
        const selector = code.slice(0, SELECTOR_CHARS);
        if (selectors.has(selector)) continue; // one in ~10^5 sets: draw again rather than share a row key
        selectors.add(selector);
        codes.push(code);
      }
      const hashes = await Promise.all(codes.map((c) => hashPassword(c, cost)));
      await db.transaction(async (tx) => {
        await tx.query('DELETE FROM totp_recovery_code WHERE tenant_id = $1 AND user_id = $2', [tenant, userId]);
        await tx.query(
          `INSERT INTO totp_recovery_code (tenant_id, user_id, selector, code_hash, created_at)
           SELECT $1, $2, s, h, $5 FROM unnest($3::text[], $4::text[]) AS t(s, h)`,
          [tenant, userId, codes.map((c) => c.slice(0, SELECTOR_CHARS)), hashes, now],
        );
      });
      return codes.map(formatRecoveryCode);
    },
    async consume(tenant, userId, typed) {
      const code = normaliseRecoveryCode(typed);
      if (!code) return { ok: false };
      const selector = code.slice(0, SELECTOR_CHARS);
      const row = (await db.query<{ code_hash: string }>('SELECT code_hash FROM totp_recovery_code WHERE tenant_id = $1 AND user_id = $2 AND selector = $3', [tenant, userId, selector])).rows[0];
      if (!row) {
        // The same scrypt time as a wrong code, so the answer's timing does not tell a known selector.
        decoy ??= createDecoyHash(cost);
        await verifyPassword(code, await decoy);
        return { ok: false };
      }
      if (!(await verifyPassword(code, row.code_hash))) return { ok: false };
      // Two requests racing with the same code: only the one whose DELETE finds the row wins.
      const gone = await db.query('DELETE FROM totp_recovery_code WHERE tenant_id = $1 AND user_id = $2 AND selector = $3 AND code_hash = $4', [tenant, userId, selector, row.code_hash]);
      if (gone.rowCount !== 1) return { ok: false };
      return { ok: true, remaining: await remaining(tenant, userId) };
    },
    remaining,
  };
}
