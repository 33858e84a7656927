/** Key extraction: the values at a collection's key pointers, in order. */
import { parsePointer } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
import { packKeyBinary } from './pack.ts';

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

function walk(doc: Json, tokens: readonly string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (let i = 0; i < tokens.length; i++) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    const t = tokens[i];
    if (Array.isArray(cur)) {
      if (!ARRAY_INDEX.test(t)) return undefined;
      cur = cur[Number(t)];
    } else {
      cur = Object.hasOwn(cur, t) ? cur[t] : undefined;
    }
  }
  return cur;
}

/** A key extractor compiled once per collection (pointers parsed once). */
export interface KeyExtractor {
  /** The JSON pointers, in key order. */
  readonly pointers: readonly string[];
  /** The key tuple of `doc` (`undefined` where a location is missing). */
  extract(doc: Json): (Json | undefined)[];
  /** The packed key of `doc` as a binary string (see pack.ts): `packKeyBinary(extract(doc))`. */
  packBinary(doc: Json): string;
}

export function keyExtractor(pointers: readonly string[]): KeyExtractor {
  const tokens = pointers.map((p) => parsePointer(p));
  if (tokens.length === 1) {
    const only = tokens[0];
    return {
      pointers,
      extract: (doc) => [walk(doc, only)],
      packBinary: (doc) => packKeyBinary([walk(doc, only)]),
    };
  }
  const extract = (doc: Json) => tokens.map((t) => walk(doc, t));
  return { pointers, extract, packBinary: (doc) => packKeyBinary(extract(doc)) };
}

/** The values of `doc` at `pointers`, in order; `undefined` where a location is missing. */
export function extractKey(doc: Json, pointers: readonly string[]): (Json | undefined)[] {
  return pointers.map((p) => walk(doc, parsePointer(p)));
}
