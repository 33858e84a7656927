import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/json/types.ts';
import { parseReduceAnnotation } from '../../shared/schema/reduce-annotation.ts';
import {
  describeViolation,
  SchemaError,
  SchemaRegistry,
  SchemaValidationError,
} from '../../shared/schema/registry.ts';

function one(schema: Json, uri = 'test://one.schema.json') {
  return new SchemaRegistry({ [uri]: schema }).validator(uri);
}

describe('SchemaRegistry drafts', () => {
  it('defaults to 2020-12 (prefixItems, $defs, unevaluatedProperties)', () => {
    const v = one({
      type: 'object',
      properties: { t: { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'integer' } } },
      unevaluatedProperties: false,
    });
    expect(v.isValid({ t: ['a', 1, 2] })).toBe(true);
    expect(v.isValid({ t: [1] })).toBe(false);
    expect(v.isValid({ t: ['a', 'b'] })).toBe(false);
    expect(v.isValid({ t: [], other: 1 })).toBe(false);
  });

  it('reads 2019-09 tuple items and additionalItems', () => {
    const v = one({
      $schema: 'https://json-schema.org/draft/2019-09/schema',
      type: 'array',
      items: [{ type: 'string' }, { type: 'integer' }],
      additionalItems: false,
      $defs: { unused: { type: 'null' } },
    });
    expect(v.isValid(['a', 1])).toBe(true);
    expect(v.isValid(['a', 1, 2])).toBe(false);
    expect(v.isValid([1, 1])).toBe(false);
  });

  it('reads draft-07 definitions and dependencies', () => {
    const v = one({
      $schema: 'http://json-schema.org/draft-07/schema#',
      definitions: { pos: { type: 'integer', minimum: 0 } },
      properties: { n: { $ref: '#/definitions/pos' } },
      dependencies: { a: ['b'], c: { required: ['d'] } },
    });
    expect(v.isValid({ n: 1 })).toBe(true);
    expect(v.isValid({ n: -1 })).toBe(false);
    expect(v.isValid({ a: 1 })).toBe(false);
    expect(v.isValid({ a: 1, b: 2 })).toBe(true);
    expect(v.isValid({ c: 1 })).toBe(false);
    expect(v.isValid({ c: 1, d: 1 })).toBe(true);
  });

  it('rejects other drafts with a SchemaError naming the schema', () => {
    let err: unknown;
    try {
      new SchemaRegistry({ 'test://old.json': { $schema: 'http://json-schema.org/draft-04/schema#' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).code).toBe('UnsupportedDraft');
    expect((err as SchemaError).message).toContain('test://old.json');
  });
});

describe('formats', () => {
  it('checks date-time strictly (RFC 3339 needs an offset)', () => {
    const v = one({ type: 'string', format: 'date-time' });
    expect(v.isValid('2024-02-29T12:30:00Z')).toBe(true);
    expect(v.isValid('2024-02-29T12:30:00.123+02:00')).toBe(true);
    expect(v.isValid('2024-02-29T12:30:00')).toBe(false);
    expect(v.isValid('2023-02-29T12:30:00Z')).toBe(false);
    expect(v.isValid('yesterday')).toBe(false);
  });

  it('knows date, uuid, email', () => {
    expect(one({ format: 'date' }).isValid('2024-01-31')).toBe(true);
    expect(one({ format: 'date' }).isValid('2024-01-32')).toBe(false);
    expect(one({ format: 'uuid' }).isValid('5f0c8e9a-1b2c-4d3e-8f90-a1b2c3d4e5f6')).toBe(true);
    expect(one({ format: 'uuid' }).isValid('nope')).toBe(false);
    expect(one({ format: 'email' }).isValid('a@example.com')).toBe(true);
  });

  it("knows Estuary's numeric string formats integer and number", () => {
    const int = one({ type: 'string', format: 'integer' });
    for (const s of ['0', '-12', '+7', '123456789012345678901234567890'])
      expect(int.isValid(s), s).toBe(true);
    for (const s of ['1.5', '', 'x', '1e3']) expect(int.isValid(s), s).toBe(false);
    const num = one({ type: 'string', format: 'number' });
    for (const s of ['1.5', '-.5', '1e-3', '12', 'NaN', '-Infinity']) expect(num.isValid(s), s).toBe(true);
    for (const s of ['', 'abc', '1.2.3', '--1']) expect(num.isValid(s), s).toBe(false);
    // Formats constrain strings only.
    expect(one({ type: ['string', 'integer'], format: 'integer' }).isValid(12)).toBe(true);
  });

  it('ignores unknown formats with a warning', () => {
    const reg = new SchemaRegistry({ 'test://f.json': { type: 'string', format: 'my-format' } });
    expect(reg.validator('test://f.json').isValid('anything')).toBe(true);
    expect(reg.warnings.join('\n')).toContain('my-format');
  });
});

describe('keywords', () => {
  it('validates reduce annotations and accepts valid ones', () => {
    const ok = one({
      properties: {
        a: { reduce: { strategy: 'merge', key: ['/id'], delete: true } },
        b: { reduce: { strategy: 'lastWriteWins', associative: false } },
        c: { reduce: { strategy: 'set', key: [''] } },
      },
    });
    expect(ok.isValid({ a: [] })).toBe(true);
    for (const bad of [
      { strategy: 'nope' },
      { strategy: 'sum', key: ['/a'] },
      { strategy: 'merge', key: ['no-slash'] },
      { strategy: 'lastWriteWins', delete: 'yes' },
      { key: [] },
    ] as Json[]) {
      expect(() => one({ properties: { a: { reduce: bad } } }), JSON.stringify(bad)).toThrow(SchemaError);
    }
  });

  it('a reduce annotation error points at the property that is wrong, with what was found and a did-you-mean', () => {
    const error = (value: Json): SchemaError => {
      try {
        parseReduceAnnotation(value, 'file:///c/flow.yaml#/properties/amount');
      } catch (e) {
        return e as SchemaError;
      }
      throw new Error('no error');
    };
    const typo = error({ strategy: 'summ' });
    expect(typo.uri).toBe('file:///c/flow.yaml#/properties/amount/reduce/strategy');
    expect(typo.message).toContain('"strategy" is "summ"; it must be one of append, ');
    expect(typo.message).toContain('(did you mean "sum"?)');
    expect(error({ strategy: 'lastWriteWins', delete: 'yes' }).uri).toMatch(/\/reduce\/delete$/);
    expect(error({ strategy: 'lastWriteWins', delete: 'yes' }).message).toContain('found "yes"');
    expect(error({ strategy: 'sum', key: ['/a'] }).uri).toMatch(/\/reduce\/key$/);
    // At a document root, the URI gets a fragment.
    expect(() => parseReduceAnnotation({ strategy: 'x' }, 'file:///s.json')).toThrow(
      expect.objectContaining({ uri: 'file:///s.json#/reduce/strategy' }),
    );
  });

  it('tolerates the annotation keywords of real-world Estuary schemas', () => {
    const v = one({
      type: 'object',
      title: 'T',
      description: 'D',
      examples: [{}],
      default: {},
      discriminator: { propertyName: 'kind' },
      properties: {
        password: { type: 'string', secret: true, airbyte_secret: true, order: 1 },
        notes: { type: 'string', multiline: true, advanced: true },
        custom: { 'x-whatever': 1, type: 'string' },
      },
    });
    expect(v.isValid({ password: 'p', notes: 'n' })).toBe(true);
    expect(v.isValid({ password: 1 })).toBe(false);
  });
});

describe('violations', () => {
  const reg = new SchemaRegistry({
    'file:///cat/orders.schema.json': {
      type: 'object',
      required: ['id'],
      properties: { id: { type: 'string' }, amount: { type: 'number' } },
    },
  });
  const v = reg.validator('file:///cat/orders.schema.json');

  it('reports instance path, keyword, schema path and message', () => {
    expect(v.validate({ id: 'a', amount: 5 })).toEqual([]);
    expect(v.validate({ id: 'a', amount: 'x' })).toEqual([
      {
        instancePath: '/amount',
        keyword: 'type',
        schemaPath: '#/properties/amount/type',
        message: 'must be number',
        params: { type: 'number' },
        found: '"x"',
      },
    ]);
    // What was found is shown for keywords about a value; a container by its kind, not its content.
    expect(v.validate({ id: 'a', amount: { big: 'object' } })[0]?.found).toBe('an object');
    expect(v.validate({ amount: 1 })[0]?.found).toBeUndefined();
  });

  it('throws SchemaValidationError with the document index and collection', () => {
    let err: unknown;
    try {
      v.assertValid({ id: 'a', amount: 'x' }, { documentIndex: 3, collection: 'acme/orders' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SchemaValidationError);
    const e = err as SchemaValidationError;
    expect(e.code).toBe('SchemaViolation');
    expect(e.documentIndex).toBe(3);
    expect(e.collection).toBe('acme/orders');
    // Logs never hold document values unless debugging asks for them (shared/config/debug-values.ts).
    expect(e.message).toBe(
      'document 3 of acme/orders: /amount: must be number (keyword "type", schema #/properties/amount/type)',
    );
    expect(describeViolation(e.violations[0], { values: true })).toBe('/amount: must be number, found "x"');
    const saved = process.env.SLUICE_LOG_VALUES;
    process.env.SLUICE_LOG_VALUES = '1';
    try {
      expect(() => v.assertValid({ id: 'a', amount: 'x' })).toThrow(
        '/amount: must be number, found "x" (keyword',
      );
    } finally {
      if (saved === undefined) delete process.env.SLUICE_LOG_VALUES;
      else process.env.SLUICE_LOG_VALUES = saved;
    }
    expect(() => v.assertValid({})).toThrow("(root): must have required property 'id'");
  });
});

describe('URIs', () => {
  const reg = new SchemaRegistry({
    'file:///cat/flow.yaml#/collections/acme~1orders/schema': {
      type: 'object',
      properties: { item: { $ref: 'items.schema.json#/$defs/item' }, self: { $ref: '#/$defs/local' } },
      $defs: { local: { type: 'boolean' } },
    },
    'file:///cat/items.schema.json': {
      $defs: { item: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' } } } },
    },
  });

  it('resolves relative $refs across documents, including from keys with a fragment', () => {
    const v = reg.validator('file:///cat/flow.yaml#/collections/acme~1orders/schema');
    expect(v.isValid({ item: { sku: 'a' }, self: true })).toBe(true);
    expect(v.isValid({ item: {} })).toBe(false);
    expect(v.isValid({ self: 1 })).toBe(false);
  });

  it('compiles a subschema by #/pointer fragment', () => {
    const item = reg.validator('file:///cat/items.schema.json#/$defs/item');
    expect(item.isValid({ sku: 'x' })).toBe(true);
    expect(item.isValid({ sku: 1 })).toBe(false);
    const local = reg.validator('file:///cat/flow.yaml#/collections/acme~1orders/schema#/$defs/local');
    expect(local.isValid(false)).toBe(true);
    expect(local.isValid('no')).toBe(false);
  });

  it('compiles each URI once', () => {
    expect(reg.validator('file:///cat/items.schema.json')).toBe(
      reg.validator('file:///cat/items.schema.json'),
    );
  });

  it('throws UnknownSchema for an unregistered URI', () => {
    expect(() => reg.validator('file:///cat/missing.json')).toThrow(SchemaError);
    try {
      reg.validator('file:///cat/missing.json');
    } catch (e) {
      expect((e as SchemaError).code).toBe('UnknownSchema');
      expect((e as SchemaError).uri).toBe('file:///cat/missing.json');
    }
  });
});

describe('SchemaRegistry anchors across files', () => {
  it("resolves `other.yaml#Name` to an $anchor at the other file's root (ajv alone cannot)", () => {
    const reg = new SchemaRegistry({
      'file:///cat/exchange.schema.yaml': {
        $anchor: 'Exchange',
        type: 'object',
        properties: { id: { type: 'string' }, venue: { type: 'string' } },
        required: ['id'],
      },
      'file:///cat/trade.schema.yaml': {
        type: 'object',
        properties: { exchange: { $ref: 'exchange.schema.yaml#Exchange' } },
      },
    });
    const trade = reg.validator('file:///cat/trade.schema.yaml');
    expect(trade.isValid({ exchange: { id: 'x', venue: 'NYSE' } })).toBe(true);
    expect(trade.isValid({ exchange: { venue: 'NYSE' } })).toBe(false);
    // The anchor names the whole root schema, also as a collection schema fragment.
    expect(reg.validator('file:///cat/exchange.schema.yaml#Exchange').isValid({ id: 'y' })).toBe(true);
  });
});
