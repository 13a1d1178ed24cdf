/**
 * Decimal search values and their implicit precision range (R4 §3.1.1.4.1:
 * `100` means [99.5, 100.5), `100.0` means [99.95, 100.05), `1e2` means
 * [50, 150)). Exact decimal arithmetic on BigInt, so no binary rounding leaks
 * into the SQL parameters.
 */

const decimalPattern = /^([+-]?)(\d+)?(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

export interface DecimalRange {
  value: string;
  low: string;
  end: string;
}

/** Formats digits × 10^-scale as a plain decimal string. */
function format(digits: bigint, scale: number): string {
  const negative = digits < 0n;
  const abs = (negative ? -digits : digits).toString();
  let out: string;
  if (scale <= 0) {
    out = abs + '0'.repeat(-scale);
  } else {
    const padded = abs.padStart(scale + 1, '0');
    out = `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
  }
  return negative && /[1-9]/.test(out) ? `-${out}` : out;
}

/** Returns null when `raw` is not a decimal. */
export function parseDecimalRange(raw: string): DecimalRange | null {
  const m = decimalPattern.exec(raw);
  if (!m) return null;
  const [, sign, whole, fraction, exponent] = m;
  if (whole === undefined && fraction === undefined) return null;
  const frac = fraction ?? '';
  const exp = exponent === undefined ? 0 : Number(exponent);
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 1000) return null;
  let digits = BigInt(`${whole ?? '0'}${frac}`);
  if (sign === '-') digits = -digits;
  const scale = frac.length - exp;
  // Half a unit of the last significant digit, one decimal place further.
  const tenfold = digits * 10n;
  return {
    value: format(digits, scale),
    low: format(tenfold - 5n, scale + 1),
    end: format(tenfold + 5n, scale + 1),
  };
}
