/**
 * The one string normalisation for search: the index writer and the query
 * compiler must agree byte for byte, or `name=josé` stops finding "Jose".
 * Lower-case, diacritics removed (NFD then combining marks dropped),
 * whitespace runs collapsed to one space and trimmed.
 */
const COMBINING_MARKS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;
const WHITESPACE_RUN = /\s+/g;

export function normalizeString(s: string): string {
  return s.normalize('NFD').replace(COMBINING_MARKS, '').toLowerCase().replace(WHITESPACE_RUN, ' ').trim();
}
