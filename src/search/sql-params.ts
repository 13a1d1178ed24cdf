/** Positional parameters for one SQL statement: values never enter the SQL text. */
export interface SqlParams {
  readonly values: unknown[];
  /** Adds a value and returns its placeholder (`$n`, with an optional cast). */
  add(value: unknown, cast?: string): string;
}

export function createSqlParams(initial: unknown[] = []): SqlParams {
  const values = [...initial];
  return {
    values,
    add(value, cast) {
      values.push(value);
      return cast === undefined ? `$${values.length}` : `$${values.length}::${cast}`;
    },
  };
}

/** Escapes LIKE wildcards so user text matches literally (default escape character is backslash). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The smallest string greater than every string starting with `prefix`, in
 * byte order (text_pattern_ops / `~<~`): the last code point plus one. UTF-8
 * byte order equals code point order, so this bounds an index range scan.
 */
export function prefixUpperBound(prefix: string): string | null {
  const points = Array.from(prefix);
  const last = points.pop();
  if (last === undefined) return null;
  const next = last.codePointAt(0)! + 1;
  // Skip the surrogate gap: those code points cannot appear in valid text.
  const bumped = next >= 0xd800 && next <= 0xdfff ? 0xe000 : next;
  if (bumped > 0x10ffff) return prefixUpperBound(points.join(''));
  return points.join('') + String.fromCodePoint(bumped);
}
