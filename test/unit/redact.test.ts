/**
 * Estuary's `redact` annotation (crates/doc/src/redact/mod.rs): its scenario table and its SHA-256
 * regression vectors, which pin the exact bytes hashed, so digests match Estuary's for the same salt.
 */
import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/json/types.ts';
import { RedactError, Redactor, redactHash } from '../../shared/schema/redact.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const SALT = Buffer.from('test-salt');
const HASH_ME = 'sha256:a9ec3b6826ee77d1577b7e9c5ea49255ae1fbb24245b87130569aa2d928b1398';
const OTHER = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

function redactor(schema: Json): Redactor {
  const uri = 'http://example/schema';
  const schemas = { [uri]: { $id: uri, ...(schema as object) } };
  return new Redactor(new SchemaRegistry(schemas), uri, schemas);
}

describe('sha256 (Estuary regression vectors, salt "test-salt")', () => {
  const cases: [string, Json, string][] = [
    ['null', null, 'sha256:087280357dfdc5a3177e17b7424c7dfb1eab2d08ba3bedeb243dc51d5c18dc88'],
    ['true', true, 'sha256:cdb0066cdc13553b8e3915c2a9b4391eb2723ea9d42ef15d82f5c0c63ce47c76'],
    ['false', false, 'sha256:d0baf3067f00d956186d8242f72de62cc258456b160cd0b6016089f27d4227dc'],
    ['1234', 1234, 'sha256:499efe70f9cc73b5c8ce310c0588632db6985e29b7f6dd1134d73346d88dea25'],
    ['1234.0', 1234.0, 'sha256:499efe70f9cc73b5c8ce310c0588632db6985e29b7f6dd1134d73346d88dea25'],
    ['-1234', -1234, 'sha256:f3b02ef6173acbfd1da0519f03ec346a853e9fc6946023742f5e75e794fdd2f7'],
    ['3.14', 3.14, 'sha256:be709360d175f75fa60ccc9ef9ac5e676ea46a743ad73b423db3481ee2e1442d'],
    ['string', 'hello world', 'sha256:992282d8d9202589b0c242c2c3b034d58afa4d38e4103a6e6565b7221313b4a7'],
    ['[]', [], 'sha256:47fd826bc045c2c64dd768c4083a0ecaf5fb9795660d2e23abb4e978b6793d0c'],
    ['[1,2,3]', [1, 2, 3], 'sha256:a0592fc445df22575a8879706190e4f00132426c93679275767964a097e5221b'],
    ['{}', {}, 'sha256:9f38251cae4235bf6af78f2eeb8924bb1c65db3d44abf0ae99912eaf580b58d4'],
    [
      '{key: value}',
      { key: 'value' },
      'sha256:3ccc5d7e8d2e27e0656c3cee1d1462f41aa7821e1c3c601246b7d884ce0f5eaa',
    ],
    ['already hashed', OTHER, OTHER],
  ];
  for (const [name, v, digest] of cases) it(name, () => expect(redactHash(v, SALT)).toBe(digest));
  it('hash-me', () => expect(redactHash('hash-me', SALT)).toBe(HASH_ME));
});

describe('scenarios (Estuary test_redact_scenarios)', () => {
  const r = redactor({
    $defs: {
      node: {
        anyOf: [
          { type: 'object', additionalProperties: { $ref: '#/$defs/node' } },
          { type: 'array', items: { $ref: '#/$defs/node' } },
          { type: ['string', 'number', 'boolean', 'null'] },
          { const: 'secret', redact: { strategy: 'block' } },
          { const: 'hash-me', redact: { strategy: 'sha256' } },
          {
            type: 'object',
            not: { additionalProperties: { not: { const: 'nested-secret' } } },
            redact: { strategy: 'block' },
          },
          { type: 'array', contains: { const: 'nested-secret' }, redact: { strategy: 'block' } },
        ],
      },
    },
    $ref: '#/$defs/node',
  });
  const cases: [string, Json, Json | undefined][] = [
    [
      'nested secrets',
      {
        level1: { level2: { secret_val: 'secret', public_val: 'visible' }, another_secret: 'secret' },
        top: ['i', 'p'],
      },
      { level1: { level2: { public_val: 'visible' } }, top: ['i', 'p'] },
    ],
    [
      'array with secret elements',
      ['public1', 'secret', { nested: 'secret' }, 'public2', ['inner', 'secret', 'value']],
      ['public1', {}, 'public2', ['inner', 'value']],
    ],
    [
      'object with nested-secret child is removed entirely',
      { parent: { child: 'nested-secret', o: 'v' } },
      {},
    ],
    ['array with nested-secret in a nested array', [['v1', 'nested-secret', 'v2'], 'other'], ['other']],
    [
      'sha256 idempotency',
      { already: OTHER, needs: 'hash-me', nested: { also: 'hash-me', pre: HASH_ME } },
      { already: OTHER, needs: HASH_ME, nested: { also: HASH_ME, pre: HASH_ME } },
    ],
    [
      'mixed block and sha256',
      { public: 'visible', s: 'secret', h: 'hash-me', n: 1234, array: ['secret', 'hash-me', 'keep-me'] },
      { public: 'visible', h: HASH_ME, n: 1234, array: [HASH_ME, 'keep-me'] },
    ],
    ['unchanged', { normal: 'data', array: [1, 2, 3] }, { normal: 'data', array: [1, 2, 3] }],
    ['root scalar removed', 'secret', undefined],
    ['root object removed', { has: 'nested-secret', other: 'value' }, undefined],
  ];
  for (const [name, input, expected] of cases)
    it(name, () => {
      const copy = structuredClone(input);
      expect(r.apply(input, SALT)).toEqual(expected);
      expect(input).toEqual(copy); // the input is never changed in place
    });

  it('two strategies at one location are an error naming it', () => {
    const c = redactor({
      properties: { a: { anyOf: [{ redact: { strategy: 'block' } }, { redact: { strategy: 'sha256' } }] } },
    });
    expect(() => c.apply({ a: 'x' }, SALT)).toThrow(RedactError);
    expect(() => c.apply({ a: 'x' }, SALT)).toThrow('conflicting redact strategies at "/a": block vs sha256');
  });

  it('a schema without redact changes nothing (and walks nothing)', () => {
    const plain = redactor({ type: 'object' });
    expect(plain.active).toBe(false);
    const doc = { a: 1 };
    expect(plain.apply(doc, SALT)).toBe(doc);
  });

  it('an unknown strategy is a schema error', () => {
    expect(() =>
      redactor({ properties: { a: { redact: { strategy: 'mask' } } } }).apply({ a: 1 }, SALT),
    ).toThrow();
  });
});
