import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareJson } from '../../shared/json/compare.ts';
import type { Json } from '../../shared/json/types.ts';
import { packKey, unpackKey } from '../../shared/keys/index.ts';

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareTuples(a: (Json | undefined)[], b: (Json | undefined)[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareJson(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}

// Small alphabets so that equal and prefix-related values come up often.
const str = fc.string({ unit: fc.constantFrom('a', 'b', '\u0000', 'é', '\uffff', '😀', 'ab'), maxLength: 4 });
const num = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 0.5, -0.5, 2 ** 53, -(2 ** 53)),
);
const scalar = fc.oneof(fc.constant(null), fc.boolean(), num, str);
const { value } = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(str, tie('value'), { maxKeys: 3 }),
  ),
}));
const element = fc.option(value, { nil: undefined, freq: 6 });
const tuplePair = fc
  .integer({ min: 1, max: 3 })
  .chain((n) =>
    fc.tuple(
      fc.array(element, { minLength: n, maxLength: n }),
      fc.array(element, { minLength: n, maxLength: n }),
    ),
  );

describe('packKey is order-preserving', () => {
  it('sign(Buffer.compare(pack(a), pack(b))) === sign(tuple compare with compareJson)', () => {
    fc.assert(
      fc.property(tuplePair, ([a, b]) => {
        expect(sign(Buffer.compare(packKey(a), packKey(b)))).toBe(sign(compareTuples(a, b)));
      }),
      { numRuns: 5000 },
    );
  });

  it('unpack(pack(t)) is compareJson-equal to t', () => {
    fc.assert(
      fc.property(tuplePair, ([a]) => {
        expect(compareTuples(unpackKey(packKey(a)), a)).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});
