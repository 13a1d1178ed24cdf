/**
 * The one string normalisation for search: the index writer and the query
 * compiler must agree byte for byte, or `name=josé` stops finding "Jose".
 * Lower-case, diacritics removed (NFD then combining marks dropped), letters
 * that carry their mark inside the glyph (ł, ø, đ, ß …) folded to their base,
 * whitespace runs collapsed to one space and trimmed.
 */
const COMBINING_MARKS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;
const WHITESPACE_RUN = /\s+/g;

// Not decomposable by NFD, so listed: stroke and ligature letters of European names.
const FOLDS: Record<string, string> = { ł: 'l', ø: 'o', đ: 'd', ħ: 'h', ŧ: 't', ß: 'ss', æ: 'ae', œ: 'oe', ı: 'i', þ: 'th', ð: 'd' };
const FOLDABLE = new RegExp(`[${Object.keys(FOLDS).join('')}]`, 'g');

/**
 * Printable ASCII: NFD, the combining marks and the folds change nothing
 * there, and the only whitespace is the space, so lower-casing and
 * collapsing spaces give the same result as the full path below. Most index
 * values (codes, identifiers, Latin names) take it.
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const SPACE_RUN = / {2,}/g;

export function normalizeString(s: string): string {
  if (PRINTABLE_ASCII.test(s)) return s.toLowerCase().replace(SPACE_RUN, ' ').trim();
  return s
    .normalize('NFD')
    .replace(COMBINING_MARKS, '')
    .toLowerCase()
    .replace(FOLDABLE, (c) => FOLDS[c] ?? c)
    .replace(WHITESPACE_RUN, ' ')
    .trim();
}
