/**
 * A two-party barrier per phase name. A party that fails releases the one
 * waiting (with the same error), so a failed run never hangs its partner.
 */
export function createPairSync() {
  const waiting = new Map<string, { release: () => void; reject: (err: unknown) => void }>();
  let failure: unknown;
  return {
    sync(phase: string): Promise<void> {
      if (failure !== undefined) return Promise.reject(failure);
      const other = waiting.get(phase);
      if (!other) return new Promise<void>((release, reject) => waiting.set(phase, { release, reject }));
      waiting.delete(phase);
      other.release();
      return Promise.resolve();
    },
    fail(err: unknown): void {
      failure ??= err;
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    },
  };
}
