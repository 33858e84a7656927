/**
 * Arbitrary-precision decimals for numeric strings (Estuary's `format: integer` / `format: number`).
 * A value is `mantissa × 10^-scale`. Addition is exact and associative; the result keeps the larger
 * scale (`"1.50" + "1"` = `"2.50"`) and is written without an exponent.
 */

export interface Decimal {
  mantissa: bigint;
  /** Digits after the decimal point (may be negative for values parsed with a large exponent). */
  scale: number;
}

/** Largest exponent accepted, to keep a hostile `"1e999999999"` from allocating gigabytes. */
export const MAX_DECIMAL_EXPONENT = 100_000;

const DECIMAL_RE = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/;

/** Parse a decimal string (`-12`, `+3.50`, `.5`, `1e3`, `2.5E-4`); undefined when it is not one. */
export function parseDecimal(s: string): Decimal | undefined {
  const m = DECIMAL_RE.exec(s);
  if (m === null) return undefined;
  const [, sign, int = '', frac = ''] = m;
  if (int.length === 0 && frac.length === 0) return undefined;
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (!Number.isFinite(exp) || Math.abs(exp) > MAX_DECIMAL_EXPONENT) return undefined;
  let mantissa = BigInt((int || '0') + frac);
  if (sign === '-') mantissa = -mantissa;
  return { mantissa, scale: frac.length - exp };
}

/** The exact decimal value of a finite double, using its shortest round-trip representation. */
export function decimalFromNumber(n: number): Decimal {
  if (Number.isSafeInteger(n)) return { mantissa: BigInt(n), scale: 0 };
  const d = parseDecimal(String(n));
  if (d === undefined) throw new RangeError(`not a finite number: ${n}`);
  return d;
}

const TEN = BigInt(10);

function pow10(n: number): bigint {
  return TEN ** BigInt(n);
}

export function addDecimal(a: Decimal, b: Decimal): Decimal {
  if (a.scale === b.scale) return { mantissa: a.mantissa + b.mantissa, scale: a.scale };
  if (a.scale > b.scale)
    return { mantissa: a.mantissa + b.mantissa * pow10(a.scale - b.scale), scale: a.scale };
  return { mantissa: a.mantissa * pow10(b.scale - a.scale) + b.mantissa, scale: b.scale };
}

/** Plain notation, no exponent: `{123n, 2}` → `"1.23"`, `{5n, -2}` → `"500"`. */
export function formatDecimal(d: Decimal): string {
  if (d.scale <= 0) return (d.mantissa * pow10(-d.scale)).toString();
  const neg = d.mantissa < BigInt(0);
  let digits = (neg ? -d.mantissa : d.mantissa).toString();
  if (digits.length <= d.scale) digits = '0'.repeat(d.scale - digits.length + 1) + digits;
  const point = digits.length - d.scale;
  return (neg ? '-' : '') + digits.slice(0, point) + '.' + digits.slice(point);
}
