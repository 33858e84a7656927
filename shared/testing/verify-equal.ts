/**
 * How a catalog test's `verify` compares one expected value with the actual one, as Estuary's
 * test verifier does (crates/doc/src/diff.rs): floats are equal within a relative epsilon, other
 * scalars by value (`1` equals `1.0`).
 */
import { jsonEqual } from '../json/compare.ts';
import type { Json } from '../json/types.ts';

/**
 * Estuary's `f64_eq`: equal when they differ by at most the machine epsilon scaled by the larger
 * magnitude (never scaled below 1): 44.1 equals 44.099999999999994.
 */
export function f64Eq(actual: number, expected: number): boolean {
  const epsilon = Number.EPSILON * Math.max(Math.abs(actual), Math.abs(expected), 1);
  return Math.abs(actual - expected) <= epsilon;
}

/**
 * Whether a scalar (or any value, compared deeply) of a verify step matches. Estuary applies
 * `f64_eq` when both sides are floats (JSON numbers written with a fraction or an exponent) and
 * compares exactly otherwise. A JavaScript number does not remember how it was written: a number
 * with a fractional part is a float, and so here is an integral one compared with it (`2` against
 * `1.9999999999999998`), which Estuary tolerates when the expected value was written `2.0`.
 */
export function verifyEqual(expected: Json, actual: Json): boolean {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (expected === actual) return true;
    if (Number.isInteger(expected) && Number.isInteger(actual)) return false;
    return f64Eq(actual, expected);
  }
  return jsonEqual(expected, actual);
}
