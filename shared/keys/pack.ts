/**
 * Order-preserving packed keys (FoundationDB tuple-layer style).
 *
 * A key is a tuple of JSON values (one per key pointer; `undefined` where the location is missing).
 * `packKey` encodes it so that `Buffer.compare(packKey(a), packKey(b))` has the sign of comparing
 * `a` and `b` element by element with `compareJson` (shared/json/compare.ts):
 * missing < null < false < true < numbers (by value, -0 = 0) < strings (bytewise UTF-8)
 * < arrays (lexicographic, a prefix first) < objects (pairwise over sorted property names:
 * name, then value; a prefix first). The encoding is lossless: `unpackKey(packKey(v))` equals `v`.
 *
 * Layout (one tag byte per value):
 * - 0x01 missing · 0x02 null · 0x03 false · 0x04 true
 * - 0x05 number: IEEE-754 big-endian; positive: sign bit flipped, negative: all bits inverted
 * - 0x06 string: UTF-8 bytes, each 0x00 escaped as 0x00 0xFF, then 0x00
 * - 0x07 array: the encoded items, then 0x00
 * - 0x08 object: per property in sorted order: 0x01, the escaped name and 0x00, the encoded value; then 0x00
 *
 * Internally keys are also handled as "binary strings" (one char per byte, i.e. latin1): JS string
 * comparison of binary strings equals Buffer.compare of the bytes, and they are cheap Map keys.
 */

import { SluiceError } from '../errors.ts';
import { compareUtf8 } from '../json/compare.ts';
import type { Json, JsonObject } from '../json/types.ts';

export const TAG_MISSING = 0x01;
export const TAG_NULL = 0x02;
export const TAG_FALSE = 0x03;
export const TAG_TRUE = 0x04;
export const TAG_NUMBER = 0x05;
export const TAG_STRING = 0x06;
export const TAG_ARRAY = 0x07;
export const TAG_OBJECT = 0x08;

/** A packed key could not be decoded. */
export class KeyDecodeError extends SluiceError {
  readonly code = 'KeyDecodeError';
  constructor(
    message: string,
    /** Byte offset in the packed key where decoding failed. */
    readonly offset: number,
    /** The packed key, hex-encoded. */
    readonly packedHex: string,
  ) {
    super(`packed key ${packedHex} at byte ${offset}: ${message}`);
    this.name = 'KeyDecodeError';
  }
}

/** A value that cannot be part of a key (not JSON: NaN, Infinity, a function...). */
export class KeyEncodeError extends SluiceError {
  readonly code = 'KeyEncodeError';
  constructor(
    message: string,
    /** Index of the offending element in the key tuple. */
    readonly index: number,
    readonly value: unknown,
  ) {
    super(`key element ${index}: ${message}`);
    this.name = 'KeyEncodeError';
  }
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// Only printable-ish ASCII without NUL: for such strings, UTF-8 bytes == UTF-16 code units.
const ASCII_NO_NUL = /^[\x01-\x7f]*$/;
const NUL = /\x00/g;

function numberChars(n: number): string {
  f64[0] = n === 0 ? 0 : n; // -0 == 0
  const b = f64Bytes;
  let s = '';
  if (LITTLE_ENDIAN) {
    if (b[7] & 0x80) {
      for (let i = 7; i >= 0; i--) s += String.fromCharCode(~b[i] & 0xff);
    } else {
      s = String.fromCharCode(b[7] ^ 0x80);
      for (let i = 6; i >= 0; i--) s += String.fromCharCode(b[i]);
    }
  } else if (b[0] & 0x80) {
    for (let i = 0; i < 8; i++) s += String.fromCharCode(~b[i] & 0xff);
  } else {
    s = String.fromCharCode(b[0] ^ 0x80);
    for (let i = 1; i < 8; i++) s += String.fromCharCode(b[i]);
  }
  return s;
}

/** Escaped, 0x00-terminated UTF-8 bytes of `s` as a binary string. */
function stringBody(s: string): string {
  if (ASCII_NO_NUL.test(s)) return s + '\x00';
  const bytes = Buffer.from(s, 'utf8').toString('latin1');
  return bytes.replace(NUL, '\x00\xff') + '\x00';
}

/** Property names in compareJson's order: bytewise UTF-8. */
export function sortedPropertyNames(o: JsonObject): string[] {
  const names = Object.keys(o);
  if (names.length > 1) names.sort(compareUtf8);
  return names;
}

function encodeValue(v: Json | undefined, index: number): string {
  switch (typeof v) {
    case 'string':
      return '\x06' + stringBody(v);
    case 'number':
      if (!Number.isFinite(v)) throw new KeyEncodeError('numbers in keys must be finite', index, v);
      return '\x05' + numberChars(v);
    case 'boolean':
      return v ? '\x04' : '\x03';
    case 'undefined':
      return '\x01';
    case 'object': {
      if (v === null) return '\x02';
      if (Array.isArray(v)) {
        let s = '\x07';
        for (const item of v) s += encodeValue(item, index);
        return s + '\x00';
      }
      let s = '\x08';
      for (const name of sortedPropertyNames(v)) s += '\x01' + stringBody(name) + encodeValue(v[name], index);
      return s + '\x00';
    }
    default:
      throw new KeyEncodeError(`a ${typeof v} is not a JSON value`, index, v);
  }
}

/** Packs a key tuple into a binary string (one char per byte); compare with `<` / `>`. */
export function packKeyBinary(values: readonly (Json | undefined)[]): string {
  if (values.length === 1) return encodeValue(values[0], 0);
  let s = '';
  for (let i = 0; i < values.length; i++) s += encodeValue(values[i], i);
  return s;
}

/** Packs a key tuple into order-preserving bytes (see the module comment for the order). */
export function packKey(values: readonly (Json | undefined)[]): Buffer {
  return Buffer.from(packKeyBinary(values), 'latin1');
}

class Decoder {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  fail(message: string): never {
    throw new KeyDecodeError(message, this.pos, this.buf.toString('hex'));
  }

  stringBody(): string {
    const buf = this.buf;
    const start = this.pos;
    let end = buf.indexOf(0, start);
    if (end < 0) this.fail('unterminated string');
    if (buf[end + 1] !== 0xff) {
      this.pos = end + 1;
      return buf.toString('utf8', start, end);
    }
    const parts: Buffer[] = [];
    let from = start;
    while (buf[end + 1] === 0xff) {
      parts.push(buf.subarray(from, end + 1)); // keep the escaped 0x00
      from = end + 2;
      end = buf.indexOf(0, from);
      if (end < 0) this.fail('unterminated string');
    }
    parts.push(buf.subarray(from, end));
    this.pos = end + 1;
    return Buffer.concat(parts).toString('utf8');
  }

  value(): Json | undefined {
    const buf = this.buf;
    if (this.pos >= buf.length) this.fail('unexpected end');
    const tag = buf[this.pos++];
    switch (tag) {
      case TAG_MISSING:
        return undefined;
      case TAG_NULL:
        return null;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_NUMBER: {
        if (this.pos + 8 > buf.length) this.fail('truncated number');
        const b = Buffer.from(buf.subarray(this.pos, this.pos + 8));
        if (b[0] & 0x80) b[0] ^= 0x80;
        else for (let i = 0; i < 8; i++) b[i] = ~b[i] & 0xff;
        this.pos += 8;
        return b.readDoubleBE(0);
      }
      case TAG_STRING:
        return this.stringBody();
      case TAG_ARRAY: {
        const out: Json[] = [];
        while (buf[this.pos] !== 0x00) {
          const item = this.value();
          if (item === undefined) this.fail('missing value inside an array');
          out.push(item);
        }
        this.pos++;
        return out;
      }
      case TAG_OBJECT: {
        const out: JsonObject = {};
        while (buf[this.pos] !== 0x00) {
          if (buf[this.pos] !== 0x01) this.fail('expected an object property marker');
          this.pos++;
          const name = this.stringBody();
          const v = this.value();
          if (v === undefined) this.fail('missing value inside an object');
          out[name] = v;
        }
        this.pos++;
        return out;
      }
      default:
        this.pos--;
        return this.fail(`unknown tag 0x${tag.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Decodes a packed key back into its tuple (lossless; `undefined` for missing elements). */
export function unpackKey(packed: Buffer): (Json | undefined)[] {
  const d = new Decoder(packed);
  const out: (Json | undefined)[] = [];
  while (d.pos < packed.length) out.push(d.value());
  return out;
}
