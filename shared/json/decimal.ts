/**
 * Arbitrary-precision decimals for `sum` over numeric strings, with the rules of Estuary's reducer
 * (crates/doc/src/reduce/parsed_number.rs, which uses the `bigdecimal` crate 0.3 over `num-bigint`):
 * a value is `mantissa × 10^-scale`; addition is exact and keeps the larger scale (`"1.50" + "1"` =
 * `"2.50"`); the result is written in plain notation, never with an exponent.
 */

export interface Decimal {
  mantissa: bigint;
  /** Digits after the decimal point (may be negative for values parsed with a large exponent). */
  scale: number;
}

/**
 * Largest exponent accepted, to keep a hostile `"1e999999999"` from allocating gigabytes when the
 * sum is written out (Estuary has no such limit).
 */
export const MAX_DECIMAL_EXPONENT = 100_000;

const TEN = BigInt(10);
const EXPONENT_RE = /^[-+]?[0-9]+$/;
const DIGITS_RE = /^[0-9][0-9_]*$/;

/**
 * Parse a decimal string as `bigdecimal` 0.3's `BigDecimal::from_str` does; undefined when it is
 * not one. Accepted: an optional `-` or `+`, digits with at most one `.` (either side may be empty,
 * not both), `_` between digits (num-bigint skips them, but not as the first character), and an
 * exponent `e`/`E` with an optional sign (one extra `+` is tolerated: `1e++5`). Rejected: blanks,
 * `NaN`, `Infinity`, hex.
 */
export function parseDecimal(s: string): Decimal | undefined {
  let base = s;
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    base = s.slice(0, e);
    let x = s.slice(e + 1);
    if (x.startsWith('+')) x = x.slice(1);
    if (!EXPONENT_RE.test(x)) return undefined;
    exp = Number(x);
    if (!Number.isSafeInteger(exp) || Math.abs(exp) > MAX_DECIMAL_EXPONENT) return undefined;
  }
  if (base === '') return undefined;
  const dot = base.indexOf('.');
  const trail = dot < 0 ? '' : base.slice(dot + 1);
  let digits = dot < 0 ? base : base.slice(0, dot) + trail;
  // num-bigint: a `-` (not followed by `+`), then a `+` (not followed by `+`), then digits.
  let negative = false;
  if (digits.startsWith('-') && !digits.startsWith('-+')) {
    negative = true;
    digits = digits.slice(1);
  }
  if (digits.startsWith('+') && !digits.startsWith('++')) digits = digits.slice(1);
  if (!DIGITS_RE.test(digits)) return undefined;
  let mantissa = BigInt(digits.replaceAll('_', ''));
  if (negative) mantissa = -mantissa;
  return { mantissa, scale: trail.length - exp };
}

const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/**
 * A JSON number as Estuary's sum promotes it to a decimal. Integers of the int64/uint64 range are
 * exact. Other numbers are doubles (`Float`), converted like `bigdecimal` 0.3's
 * `TryFrom<f64>`: `format!("{:.15e}")`, that is 16 significant digits, correctly rounded (ties to
 * even), trailing zeros kept: 86753.09 → 86753.09000000000, 0.1 → 0.1000000000000000.
 * (A JSON number written with a fraction but integral, like `5.0`, is a Float for Estuary; a
 * JavaScript number cannot tell, and such a number counts as the integer here.)
 */
export function decimalFromNumber(n: number): Decimal {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  if (Number.isInteger(n) && n >= -TWO_63 && n < TWO_64) return { mantissa: BigInt(n), scale: 0 };
  return roundSignificant(exactDouble(n), 16);
}

/** The exact value of a finite double. */
function exactDouble(n: number): Decimal {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << BigInt(32)) | BigInt(lo);
  let e: number;
  if (biased === 0) {
    e = -1074; // subnormal
  } else {
    m |= BigInt(1) << BigInt(52);
    e = biased - 1075;
  }
  let d: Decimal;
  if (e >= 0) d = { mantissa: m << BigInt(e), scale: 0 };
  else d = { mantissa: m * BigInt(5) ** BigInt(-e), scale: -e }; // m / 2^k = m·5^k / 10^k
  if (negative) d.mantissa = -d.mantissa;
  return d;
}

/** `d` rounded to `digits` significant digits (ties to even), as `{:.(digits-1)e}` writes it. */
function roundSignificant(d: Decimal, digits: number): Decimal {
  const negative = d.mantissa < BigInt(0);
  let m = negative ? -d.mantissa : d.mantissa;
  if (m === BigInt(0)) return { mantissa: BigInt(0), scale: digits - 1 };
  const len = m.toString().length;
  let scale = d.scale;
  if (len > digits) {
    const drop = BigInt(len - digits);
    const unit = TEN ** drop;
    const q = m / unit;
    const r = m % unit;
    const twice = r * BigInt(2);
    m = twice > unit || (twice === unit && q % BigInt(2) === BigInt(1)) ? q + BigInt(1) : q;
    scale -= len - digits;
    if (m.toString().length > digits) {
      // 9.99…95 rounded up to 10.00…0: one digit fewer after the point.
      m /= TEN;
      scale -= 1;
    }
  } else if (len < digits) {
    m *= TEN ** BigInt(digits - len);
    scale += digits - len;
  }
  return { mantissa: negative ? -m : m, scale };
}

function pow10(n: number): bigint {
  return TEN ** BigInt(n);
}

export function addDecimal(a: Decimal, b: Decimal): Decimal {
  if (a.scale === b.scale) return { mantissa: a.mantissa + b.mantissa, scale: a.scale };
  if (a.scale > b.scale)
    return { mantissa: a.mantissa + b.mantissa * pow10(a.scale - b.scale), scale: a.scale };
  return { mantissa: a.mantissa * pow10(b.scale - a.scale) + b.mantissa, scale: b.scale };
}

/**
 * Plain notation, no exponent, as `bigdecimal` 0.3 displays: `{123n, 2}` → `"1.23"`, `{5n, -2}` →
 * `"500"`, `{0n, 1}` → `"0.0"` (trailing zeros kept; zero has no sign).
 */
export function formatDecimal(d: Decimal): string {
  const neg = d.mantissa < BigInt(0);
  let digits = (neg ? -d.mantissa : d.mantissa).toString();
  const sign = neg ? '-' : '';
  if (d.scale <= 0) return sign + digits + '0'.repeat(-d.scale);
  if (digits.length <= d.scale) digits = '0'.repeat(d.scale - digits.length + 1) + digits;
  const point = digits.length - d.scale;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
