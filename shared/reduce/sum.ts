/**
 * `sum`, as Estuary's reducer adds (crates/doc/src/reduce/strategy.rs `sum` and parsed_number.rs
 * `ParsedNumber::checked_add`). A missing lhs counts as the integer 0. Integers (JSON numbers that
 * are whole and within [-2^63, 2^64)) add exactly and overflow outside int64/uint64, or where a double
 * cannot hold the exact sum (past ±2^53: json/exact-integers.ts); an integer
 * and a double add as doubles, and overflow to ±Infinity is an error. When either side is a string
 * (Estuary's `format: integer|number`), both sides add as arbitrary-precision decimals (a double
 * taken to 16 significant digits, see decimalFromNumber) and the result is a string; so an rhs
 * string without lhs comes out rewritten in plain notation (`"1e3"` → `"1000"`).
 */
import { addDecimal, type Decimal, decimalFromNumber, formatDecimal, parseDecimal } from '../json/decimal.ts';
import type { Json } from '../json/types.ts';

/** Returned by `sum` instead of a value. */
export const SUM_WRONG_TYPE: unique symbol = Symbol('SumWrongType');
export const SUM_OVERFLOW: unique symbol = Symbol('SumNumericOverflow');
export type SumFault = typeof SUM_WRONG_TYPE | typeof SUM_OVERFLOW;

const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;
const INT64_MIN = -(BigInt(2) ** BigInt(63));
const UINT64_MAX = BigInt(2) ** BigInt(64) - BigInt(1);
const ZERO: Decimal = { mantissa: BigInt(0), scale: 0 };

function isInt(n: number): boolean {
  return Number.isInteger(n) && n >= -TWO_63 && n < TWO_64;
}

function toDecimal(v: Json): Decimal | undefined {
  if (typeof v === 'number') return decimalFromNumber(v);
  if (typeof v === 'string') return parseDecimal(v);
  return undefined;
}

/** The sum (lhs undefined: no lhs, which counts as 0), or the fault code. */
export function sum(lhs: Json | undefined, rhs: Json): Json | SumFault {
  if (lhs === undefined) {
    if (typeof rhs === 'number') return rhs;
    if (typeof rhs !== 'string') return SUM_WRONG_TYPE;
    const r = parseDecimal(rhs);
    return r === undefined ? SUM_WRONG_TYPE : formatDecimal(addDecimal(ZERO, r));
  }
  if (typeof lhs === 'number' && typeof rhs === 'number') {
    const s = lhs + rhs;
    if (isInt(lhs) && isInt(rhs)) {
      if (Number.isSafeInteger(s) && Number.isSafeInteger(lhs) && Number.isSafeInteger(rhs)) return s;
      const big = BigInt(lhs) + BigInt(rhs);
      if (big < INT64_MIN || big > UINT64_MAX) return SUM_OVERFLOW;
      // A sum that a double cannot hold exactly (past ±2^53, not a multiple of the doubles' spacing
      // there) would be rounded without a word: an overflow, as Sluice's numbers are doubles.
      const n = Number(big);
      return BigInt(n) === big ? n : SUM_OVERFLOW;
    }
    if (!Number.isFinite(s)) return SUM_OVERFLOW;
    return s;
  }
  if (typeof lhs === 'string' || typeof rhs === 'string') {
    const l = toDecimal(lhs);
    const r = toDecimal(rhs);
    if (l === undefined || r === undefined) return SUM_WRONG_TYPE;
    return formatDecimal(addDecimal(l, r));
  }
  return SUM_WRONG_TYPE;
}

/**
 * `bigSum` (Estuary's docs, reference/reduction-strategies/big-sum.md): numbers and numeric strings add
 * as arbitrary-precision decimals and the result is always a string (`5` + `"-1.2"` → `"3.8"`); a
 * missing lhs counts as 0.
 */
export function bigSum(lhs: Json | undefined, rhs: Json): string | typeof SUM_WRONG_TYPE {
  const l = lhs === undefined ? ZERO : toDecimal(lhs);
  const r = toDecimal(rhs);
  if (l === undefined || r === undefined) return SUM_WRONG_TYPE;
  return formatDecimal(addDecimal(l, r));
}

/** Whether `v` can take part in a sum. */
export function isSummable(v: Json): boolean {
  return typeof v === 'number' || (typeof v === 'string' && parseDecimal(v) !== undefined);
}
