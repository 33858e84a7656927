/**
 * Cheap estimates of how much V8 heap a parsed JSON document occupies (64-bit, no pointer
 * compression, as in Node 20): headers and slots rather than JSON text length, since the combiner's
 * budget is about heap. Property names are not counted: JSON.parse interns them, so they are shared.
 */
import type { Json } from '../json/types.ts';

const SLOT = 8;
const STRING_HEADER = 16;
const HEAP_NUMBER = 16;
const ARRAY_HEADER = 32 + 16; // JSArray + FixedArray header
const OBJECT_HEADER = 24 + 16; // JSObject + out-of-object property backing store header

/** Heap bytes of a scalar (its slot not included); -1 for an object or array. */
function scalarSize(v: Json): number {
  if (typeof v === 'string') return STRING_HEADER + v.length;
  if (typeof v === 'number') return (v | 0) === v && v >= -0x40000000 && v < 0x40000000 ? 0 : HEAP_NUMBER;
  if (typeof v === 'object' && v !== null) return -1;
  return 0;
}

/** Approximate heap bytes of `v` (within ~25 % of measured heapUsed for typical documents). */
export function estimateSize(v: Json): number {
  const s = scalarSize(v);
  return s >= 0 ? s : containerSize(v as Json[] | Record<string, Json>);
}

// Scalars are measured inline in the loops rather than by a recursive call per value: the combiner
// measures every added document, and for flat documents the calls were most of the cost (≈ 2.5×).
function containerSize(v: Json[] | Record<string, Json>): number {
  if (Array.isArray(v)) {
    let n = ARRAY_HEADER + v.length * SLOT;
    for (let i = 0; i < v.length; i++) {
      const s = scalarSize(v[i]);
      n += s >= 0 ? s : containerSize(v[i] as Json[] | Record<string, Json>);
    }
    return n;
  }
  let n = OBJECT_HEADER;
  for (const k in v) {
    const x = v[k];
    const s = scalarSize(x);
    n += SLOT + (s >= 0 ? s : containerSize(x as Json[] | Record<string, Json>));
  }
  return n;
}
