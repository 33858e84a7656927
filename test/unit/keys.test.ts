import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/json/types.ts';
import {
  explicitHashKey,
  extractKey,
  hashKey,
  KeyDecodeError,
  KeyEncodeError,
  keyExtractor,
  packKey,
  packKeyBinary,
  unpackKey,
} from '../../shared/keys/index.ts';

// Strictly increasing in the value order of reductions.md (missing first).
const ORDERED: (Json | undefined)[] = [
  undefined,
  null,
  false,
  true,
  -1e300,
  -2.5,
  -1,
  -Number.MIN_VALUE,
  0,
  Number.MIN_VALUE,
  0.5,
  1,
  20,
  2 ** 53,
  1e300,
  '',
  '\u0000',
  '\u0000\u0000',
  '\u0001',
  'a',
  'a\u0000',
  'a\u0000b',
  'ab',
  'b',
  'é',
  '\uffff',
  '😀', // U+1F600: UTF-8 F0..., after U+FFFF (EF BF BF) bytewise, although before it in UTF-16
  [],
  [null],
  [null, null],
  [false],
  [1],
  [1, 2],
  ['a'],
  ['a', []],
  ['a\u0000'],
  [[]],
  [{}],
  {},
  { '': null },
  { a: 1 },
  { a: 1, b: 0 },
  { a: 2 },
  { a: '' },
  { b: 0 },
  { é: 0 },
];

describe('packKey order', () => {
  it('orders each value strictly after the previous one', () => {
    for (let i = 1; i < ORDERED.length; i++) {
      const a = packKey([ORDERED[i - 1]]);
      const b = packKey([ORDERED[i]]);
      expect(Buffer.compare(a, b), `${JSON.stringify(ORDERED[i - 1])} < ${JSON.stringify(ORDERED[i])}`).toBe(
        -1,
      );
    }
  });

  it('binary strings compare like the bytes', () => {
    for (let i = 1; i < ORDERED.length; i++) {
      expect(packKeyBinary([ORDERED[i - 1]]) < packKeyBinary([ORDERED[i]])).toBe(true);
    }
  });

  it('packs -0 and 0, and 20 and 20.0, identically', () => {
    expect(packKey([-0]).equals(packKey([0]))).toBe(true);
    expect(packKey([JSON.parse('20.0') as number]).equals(packKey([20]))).toBe(true);
  });

  it('compares tuples element by element', () => {
    const tuples: (Json | undefined)[][] = [
      [undefined, 'z'],
      [null, undefined],
      ['a', 1],
      ['a', 2],
      ['a\u0000', 0],
      ['ab', -1],
    ];
    for (let i = 1; i < tuples.length; i++) {
      expect(Buffer.compare(packKey(tuples[i - 1]), packKey(tuples[i]))).toBe(-1);
    }
  });

  it('sorts object properties bytewise UTF-8 regardless of insertion order', () => {
    expect(packKey([{ b: 1, a: 2 }]).equals(packKey([{ a: 2, b: 1 }]))).toBe(true);
  });

  it('rejects values that are not JSON', () => {
    expect(() => packKey(['ok', Number.NaN])).toThrow(KeyEncodeError);
    try {
      packKey(['ok', Number.POSITIVE_INFINITY]);
    } catch (e) {
      expect(e).toMatchObject({ code: 'KeyEncodeError', index: 1 });
    }
  });
});

describe('unpackKey', () => {
  it('round-trips every value', () => {
    for (const v of ORDERED) {
      const out = unpackKey(packKey(['x', v, 3]));
      expect(out).toEqual(['x', v, 3]);
    }
    expect(Object.is(unpackKey(packKey([-0]))[0], 0)).toBe(true);
  });

  it('reports corrupt input with the offset', () => {
    const bad = Buffer.from([0x06, 0x61, 0x62]); // unterminated string
    expect(() => unpackKey(bad)).toThrow(KeyDecodeError);
    try {
      unpackKey(Buffer.from([0x04, 0x99]));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KeyDecodeError);
      expect((e as KeyDecodeError).offset).toBe(1);
      expect((e as KeyDecodeError).packedHex).toBe('0499');
    }
    expect(() => unpackKey(Buffer.from([0x05, 1, 2]))).toThrow(/truncated number/);
  });
});

describe('extractKey', () => {
  const doc: Json = { id: 'a', nested: { 'x/y': 1, 'm~n': [10, 20] }, list: [{ k: true }], z: null };

  it('reads nested, escaped and array locations', () => {
    expect(extractKey(doc, ['/id', '/nested/x~1y', '/nested/m~0n/1', '/list/0/k', '/z'])).toEqual([
      'a',
      1,
      20,
      true,
      null,
    ]);
  });

  it('yields undefined for missing locations', () => {
    expect(extractKey(doc, ['/nope', '/id/0', '/list/1', '/list/-', '/list/01', '/nested/m~0n/2'])).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('the root pointer is the whole document', () => {
    expect(extractKey(doc, [''])).toEqual([doc]);
  });

  it('does not read inherited properties', () => {
    expect(extractKey({}, ['/constructor', '/__proto__'])).toEqual([undefined, undefined]);
  });

  it('a compiled extractor packs the same bytes as packKey(extractKey())', () => {
    for (const ptrs of [['/id'], ['/id', '/nested/x~1y'], ['/missing', '/z']]) {
      const ex = keyExtractor(ptrs);
      expect(ex.extract(doc)).toEqual(extractKey(doc, ptrs));
      expect(Buffer.from(ex.packBinary(doc), 'latin1').equals(packKey(extractKey(doc, ptrs)))).toBe(true);
    }
  });
});

describe('hashes', () => {
  it('hashKey is 32-bit FNV-1a of the packed bytes', () => {
    // Published FNV-1a test vectors.
    expect(hashKey(Buffer.alloc(0))).toBe(0x811c9dc5);
    expect(hashKey(Buffer.from('a'))).toBe(0xe40c292c);
    expect(hashKey(Buffer.from('foobar'))).toBe(0xbf9cf968);
  });

  it('explicitHashKey is the MD5 as a decimal in [0, 2^128)', () => {
    // RFC 1321 test vector: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72.
    expect(explicitHashKey(Buffer.from('abc'))).toBe(BigInt('0x900150983cd24fb0d6963f7d28e17f72').toString());
    for (let i = 0; i < 200; i++) {
      const v = BigInt(explicitHashKey(packKey([`key-${i}`])));
      expect(v >= 0n && v < 2n ** 128n).toBe(true);
    }
  });

  it('different keys spread over shards', () => {
    const shards = new Array<number>(4).fill(0);
    for (let i = 0; i < 4000; i++) shards[hashKey(packKey([`user-${i}`])) % 4]++;
    for (const n of shards) expect(n).toBeGreaterThan(800);
  });
});
