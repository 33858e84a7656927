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

/** Approximate heap bytes of `v` (within ~25 % of measured heapUsed for typical documents). */
export function estimateSize(v: Json): number {
  switch (typeof v) {
    case 'string':
      return STRING_HEADER + v.length;
    case 'number':
      return Number.isInteger(v) && v >= -0x40000000 && v < 0x40000000 ? 0 : HEAP_NUMBER;
    case 'object': {
      if (v === null) return 0;
      if (Array.isArray(v)) {
        let n = ARRAY_HEADER;
        for (let i = 0; i < v.length; i++) n += SLOT + estimateSize(v[i]);
        return n;
      }
      let n = OBJECT_HEADER;
      for (const k in v) n += SLOT + estimateSize(v[k]);
      return n;
    }
    default:
      return 0;
  }
}
