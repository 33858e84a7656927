import { describe, expect, it } from 'vitest';
import { compareByKey, compareJson, compareUtf8, jsonEqual } from '../../shared/json/compare.ts';
import { addDecimal, decimalFromNumber, formatDecimal, parseDecimal } from '../../shared/json/decimal.ts';
import type { Json } from '../../shared/json/types.ts';

const sign = (n: number) => Math.sign(n);

describe('compareJson', () => {
  it('orders types: undefined < null < boolean < number < string < array < object', () => {
    const ordered: (Json | undefined)[] = [
      undefined,
      null,
      false,
      true,
      -1,
      0,
      2.5,
      '',
      'a',
      [],
      [0],
      {},
      { a: 1 },
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(
          sign(compareJson(ordered[i], ordered[j])),
          `${JSON.stringify(ordered[i])} vs ${JSON.stringify(ordered[j])}`,
        ).toBe(sign(i - j));
      }
    }
  });

  it('compares numbers by value across integer and float', () => {
    expect(compareJson(20, 20.0)).toBe(0);
    expect(compareJson(-0, 0)).toBe(0);
    expect(sign(compareJson(1e21, 2 ** 53 + 2))).toBe(1);
    expect(sign(compareJson(-1.5, -1))).toBe(-1);
  });

  it('compares strings by UTF-8 bytes (code points), not UTF-16 units', () => {
    // U+FF61 (UTF-16 0xFF61) vs U+1F600 (surrogates 0xD83D...): UTF-16 order says 😀 < ｡, UTF-8 says ｡ < 😀.
    expect('😀' < '｡').toBe(true);
    expect(sign(compareJson('｡', '😀'))).toBe(-1);
    expect(sign(compareUtf8('😀', '｡'))).toBe(1);
    expect(sign(compareUtf8('a', 'ab'))).toBe(-1);
    expect(sign(compareUtf8('é', 'z'))).toBe(1);
    expect(Buffer.compare(Buffer.from('｡'), Buffer.from('😀'))).toBe(-1);
  });

  it('orders arrays lexicographically, a prefix first', () => {
    expect(sign(compareJson([1, 2], [1, 2, 0]))).toBe(-1);
    expect(sign(compareJson([1, 3], [1, 2, 9]))).toBe(1);
    expect(compareJson([1, [2]], [1.0, [2.0]])).toBe(0);
  });

  it('orders objects by sorted property names, then values', () => {
    expect(compareJson({ b: 1, a: 2 }, { a: 2, b: 1 })).toBe(0);
    expect(sign(compareJson({ a: 1 }, { b: 0 }))).toBe(-1);
    expect(sign(compareJson({ a: 2 }, { a: 1, b: 1 }))).toBe(1);
    expect(sign(compareJson({ a: 1 }, { a: 1, b: 1 }))).toBe(-1);
  });
});

describe('jsonEqual', () => {
  it.each<[Json, Json, boolean]>([
    [1, 1.0, true],
    [{ a: [1, { b: null }] }, { a: [1, { b: null }] }, true],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined as unknown as Json }, false],
    [[1, 2], [2, 1], false],
    [{ a: 1 }, [1], false],
    [null, {}, false],
    ['1', 1, false],
    [{ toString: 1 }, { valueOf: 1 }, false],
  ])('%j == %j is %s', (a, b, want) => {
    expect(jsonEqual(a, b)).toBe(want);
  });
});

describe('compareByKey', () => {
  it('compares composite keys, a missing location before null', () => {
    const a = { k: 1, j: 'x' };
    const b = { k: 1, j: 'y' };
    expect(sign(compareByKey(a, b, ['/k']))).toBe(0);
    expect(sign(compareByKey(a, b, ['/k', '/j']))).toBe(-1);
    expect(sign(compareByKey({}, { k: null }, ['/k']))).toBe(-1);
    expect(sign(compareByKey({ k: null }, {}, ['/k']))).toBe(1);
    expect(compareByKey({ k: 1 }, { k: 2 }, [])).toBe(0);
    expect(sign(compareByKey([3, 1], [2, 5], ['/1']))).toBe(-1);
    expect(sign(compareByKey(5, 4, ['']))).toBe(1);
  });
});

describe('decimals', () => {
  it.each([
    ['1', '9000000000000000000', '9000000000000000001'],
    ['1.50', '1', '2.50'],
    ['-0.1', '0.1', '0.0'],
    ['1e3', '.5', '1000.5'],
    ['123456789012345678901234567890', '-123456789012345678901234567889', '1'],
    ['2.5E-4', '0', '0.00025'],
  ])('%s + %s = %s', (a, b, want) => {
    expect(formatDecimal(addDecimal(parseDecimal(a)!, parseDecimal(b)!))).toBe(want);
  });

  it('rejects non-numbers and absurd exponents', () => {
    for (const s of [
      '',
      '-',
      '.',
      'abc',
      '1.2.3',
      '1e',
      'NaN',
      'Infinity',
      ' 1',
      '_1',
      '-+1',
      '++1',
      '1e5.5',
      '0x10',
      '1e1000000',
    ])
      expect(parseDecimal(s), s).toBeUndefined();
  });

  it("parses what bigdecimal 0.3's from_str (over num-bigint) accepts", () => {
    // bigdecimal splits at the exponent, then at the first '.', and hands the digits to
    // num-bigint's from_str_radix, which skips '_' after the first digit.
    for (const [s, want] of [
      ['+5', '5'],
      ['-.5', '-0.5'],
      ['5.', '5'],
      ['1_000', '1000'],
      ['1._5', '0.15'],
      ['1E+3', '1000'],
      ['1e++3', '1000'],
      ['-0.0', '0.0'],
    ])
      expect(formatDecimal(parseDecimal(s)!), s).toBe(want);
  });

  it("converts doubles as Estuary's sum does: integers exactly, others to 16 significant digits", () => {
    // bigdecimal 0.3 `TryFrom<f64>`: `format!("{:.15e}", n)` (correctly rounded, ties to even).
    expect(formatDecimal(decimalFromNumber(0.1))).toBe('0.1000000000000000');
    expect(formatDecimal(decimalFromNumber(86753.09))).toBe('86753.09000000000');
    expect(formatDecimal(decimalFromNumber(0.30000000000000004))).toBe('0.3000000000000000');
    expect(formatDecimal(decimalFromNumber(-2.5e-7))).toBe('-0.0000002500000000000000');
    expect(formatDecimal(decimalFromNumber(1125899906842624.5))).toBe('1125899906842624'); // a tie: to even
    expect(formatDecimal(decimalFromNumber(1125899906842625.5))).toBe('1125899906842626');
    expect(formatDecimal(decimalFromNumber(2 ** 70))).toBe('1180591620717411000000'); // beyond uint64: a Float
    expect(formatDecimal(decimalFromNumber(2 ** 63))).toBe('9223372036854775808'); // uint64: exact
    expect(formatDecimal(decimalFromNumber(-5))).toBe('-5');
  });
});
