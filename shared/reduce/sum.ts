/**
 * `sum`: numbers and numeric strings. Integers (JSON numbers that are whole and within
 * [-2^63, 2^64)) add exactly (BigInt when the result leaves the safe range) and overflow outside
 * int64/uint64; other numbers add as doubles and overflow to ±Infinity is an error. When either
 * side is a string (Estuary's `format: integer|number`), both add as arbitrary-precision decimals
 * and the result is a string.
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

function isInt(n: number): boolean {
  return Number.isInteger(n) && n >= -TWO_63 && n < TWO_64;
}

function toDecimal(v: Json): Decimal | undefined {
  if (typeof v === 'number') return decimalFromNumber(v);
  if (typeof v === 'string') return parseDecimal(v);
  return undefined;
}

/** The sum, or the fault code. */
export function sum(lhs: Json, rhs: Json): Json | SumFault {
  if (typeof lhs === 'number' && typeof rhs === 'number') {
    const s = lhs + rhs;
    if (isInt(lhs) && isInt(rhs)) {
      if (Number.isSafeInteger(s) && Number.isSafeInteger(lhs) && Number.isSafeInteger(rhs)) return s;
      const big = BigInt(lhs) + BigInt(rhs);
      if (big < INT64_MIN || big > UINT64_MAX) return SUM_OVERFLOW;
      return Number(big);
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

/** Whether `v` can take part in a sum. */
export function isSummable(v: Json): boolean {
  return typeof v === 'number' || (typeof v === 'string' && parseDecimal(v) !== undefined);
}
