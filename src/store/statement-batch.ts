/** WITH entries with their own placeholders (`$1`…), to ride along in another statement. */
export interface WithList {
  entries: string[];
  params: unknown[];
}

/**
 * The entries of `list`, their placeholders renumbered after the `params`
 * already used (which the call extends), so the caller sends them with its
 * own statement in ONE round trip. Data-modifying WITH entries run once each
 * even when unreferenced, and all of them see the snapshot from before the
 * statement.
 */
export function withEntries(list: WithList, params: unknown[]): string[] {
  const offset = params.length;
  params.push(...list.params);
  return list.entries.map((text) => text.replace(/\$(\d+)/g, (_m, n: string) => `$${Number(n) + offset}`));
}
