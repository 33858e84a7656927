/** Key extraction: the values at a collection's key pointers, in order. */
import { getAt, parsePointer } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
import { packKeyBinary } from './pack.ts';

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
      extract: (doc) => [getAt(doc, only)],
      packBinary: (doc) => packKeyBinary([getAt(doc, only)]),
    };
  }
  const extract = (doc: Json) => tokens.map((t) => getAt(doc, t));
  return { pointers, extract, packBinary: (doc) => packKeyBinary(extract(doc)) };
}

/** The values of `doc` at `pointers`, in order; `undefined` where a location is missing. */
export function extractKey(doc: Json, pointers: readonly string[]): (Json | undefined)[] {
  return pointers.map((p) => getAt(doc, parsePointer(p)));
}
