/**
 * The total order of JSON values used by reductions (minimize/maximize, keyed merge and set) and
 * by collection keys: undefined (a missing location) < null < boolean < number < string < array <
 * object. Numbers compare by value (`20 == 20.0`); strings bytewise in UTF-8, which is code point
 * order (not JavaScript's UTF-16 order); arrays lexicographically (a prefix first); objects by their
 * entries sorted by property name, compared name then value, lexicographically.
 */
import { getAt, ownProp, parsePointer } from './pointer.ts';
import { isObject, type Json, type JsonObject } from './types.ts';

function rank(v: Json | undefined): number {
  if (v === undefined) return 0;
  if (v === null) return 1;
  switch (typeof v) {
    case 'boolean':
      return 2;
    case 'number':
      return 3;
    case 'string':
      return 4;
    default:
      return Array.isArray(v) ? 5 : 6;
  }
}

/** Map a UTF-16 code unit so that code-unit order equals code-point (= UTF-8 byte) order. */
function fixup(c: number): number {
  if (c >= 0xe000) return c - 0x800;
  if (c >= 0xd800) return c + 0x2000;
  return c;
}

/** Compare strings by Unicode code point, equivalently by their UTF-8 bytes. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      if (ca < 0xd800 && cb < 0xd800) return ca - cb;
      return fixup(ca) - fixup(cb);
    }
  }
  return a.length - b.length;
}

function sortedKeys(o: JsonObject): string[] {
  const keys = Object.keys(o);
  if (keys.length > 1) keys.sort(compareUtf8);
  return keys;
}

/** Negative, zero or positive as `a` orders before, equal to, or after `b`. */
export function compareJson(a: Json | undefined, b: Json | undefined): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
    case 1:
      return 0;
    case 2:
      return a === b ? 0 : a ? 1 : -1;
    case 3:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 4:
      return compareUtf8(a as string, b as string);
    case 5: {
      const x = a as Json[];
      const y = b as Json[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compareJson(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    default: {
      const x = a as JsonObject;
      const y = b as JsonObject;
      const kx = sortedKeys(x);
      const ky = sortedKeys(y);
      const n = Math.min(kx.length, ky.length);
      for (let i = 0; i < n; i++) {
        let c = compareUtf8(kx[i], ky[i]);
        if (c !== 0) return c;
        c = compareJson(ownProp(x, kx[i]), ownProp(y, ky[i]));
        if (c !== 0) return c;
      }
      return kx.length - ky.length;
    }
  }
}

/** Deep equality; numbers by value (`1` equals `1.0`), property order ignored. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || !isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const vb = ownProp(b, k);
    if (vb === undefined || !jsonEqual(a[k], vb)) return false;
  }
  return true;
}

/**
 * Compare two documents by the values at `ptrs`, in order (a composite key). A missing location
 * orders before every value, including null. An empty list compares equal.
 */
export function compareByKey(a: Json | undefined, b: Json | undefined, ptrs: readonly string[]): number {
  for (const p of ptrs) {
    const tokens = parsePointer(p);
    const c = compareJson(getAt(a, tokens), getAt(b, tokens));
    if (c !== 0) return c;
  }
  return 0;
}

/** Like compareByKey, with pointers already parsed into tokens (hot paths). */
export function compareByTokens(
  a: Json | undefined,
  b: Json | undefined,
  keys: readonly (readonly string[])[],
): number {
  for (const tokens of keys) {
    const c = tokens.length === 0 ? compareJson(a, b) : compareJson(getAt(a, tokens), getAt(b, tokens));
    if (c !== 0) return c;
  }
  return 0;
}
