import type { Clock } from '../kernel/index.js';

/**
 * Backoff per source address for password and TOTP guesses. The account
 * lockout stops guessing one account; this stops one address guessing many
 * (credential stuffing, password spraying) and spares the CPU: a throttled
 * attempt is refused before any scrypt work. Failures only count — a success
 * does not reset the counter, or one valid account would unlock the spraying.
 *
 * In memory, per node: a restart or another node starts afresh, which bounds
 * the guess rate per node, not per cluster (docs/security/identity.md).
 */
export interface SourceThrottlePolicy {
  /** Failures from one address within the window before it is throttled. */
  maxFailures: number;
  /** Quiet period after which an address's count starts again. */
  windowMs: number;
  /** First block; doubles with each failure past the limit, capped at one hour. */
  blockMs: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

const MAX_BLOCK_MS = 3_600_000;
const MAX_ENTRIES = 50_000;

export function createSourceThrottle(policy: SourceThrottlePolicy, clock: Clock) {
  const entries = new Map<string, Entry>();
  const live = (address: string, now: number): Entry | undefined => {
    const e = entries.get(address);
    if (e && e.blockedUntil <= now && now - e.lastFailure > policy.windowMs) {
      entries.delete(address);
      return undefined;
    }
    return e;
  };
  return {
    /** Epoch ms until which this address is refused, or undefined. */
    blockedUntil(address: string | undefined): number | undefined {
      if (!address) return undefined;
      const now = clock.now().getTime();
      const e = live(address, now);
      return e && e.blockedUntil > now ? e.blockedUntil : undefined;
    },
    failure(address: string | undefined): void {
      if (!address) return;
      const now = clock.now().getTime();
      const e = live(address, now) ?? { failures: 0, lastFailure: now, blockedUntil: 0 };
      e.failures += 1;
      e.lastFailure = now;
      if (e.failures >= policy.maxFailures) {
        e.blockedUntil = now + Math.min(MAX_BLOCK_MS, policy.blockMs * 2 ** (e.failures - policy.maxFailures));
      }
      // Re-insert so the Map's order is least recently failed first; the oldest go when it is full.
      entries.delete(address);
      entries.set(address, e);
      if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    },
  };
}

export type SourceThrottle = ReturnType<typeof createSourceThrottle>;
