/**
 * FHIR number/quantity search compares against the implicit precision range
 * of the stored value: 100 means [99.5, 100.5], 1.00 means [0.995, 1.005].
 * Exact decimal arithmetic on digit strings (BigInt) avoids float noise.
 */
export interface NumberRange {
  value: string;
  low: string;
  high: string;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** `digits × 10^-scale` as a plain decimal string. */
function formatScaled(n: bigint, scale: number): string {
  const negative = n < 0n;
  let digits = (negative ? -n : n).toString();
  if (scale <= 0) return (negative ? '-' : '') + digits + '0'.repeat(-scale);
  digits = digits.padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale);
  return `${negative ? '-' : ''}${int}.${frac}`;
}

/**
 * Range of a decimal given as written (string) or as a JSON number. A JSON
 * number has lost trailing zeros (1.00 parses as 1), so pass the source text
 * when it is available.
 */
export function numberRange(input: string | number): NumberRange | null {
  const text = typeof input === 'number' ? (Number.isFinite(input) ? String(input) : '') : input.trim();
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const sign = m[1] === '-' ? -1n : 1n;
  const frac = m[3] ?? '';
  const exponent = m[4] ? Number(m[4]) : 0;
  const n = sign * BigInt((m[2] ?? '0') + frac);
  const scale = frac.length - exponent;
  // Half a unit in the last written digit, one digit finer than the value.
  const low = n * 10n - 5n;
  const high = n * 10n + 5n;
  return { value: formatScaled(n, scale), low: formatScaled(low, scale + 1), high: formatScaled(high, scale + 1) };
}
