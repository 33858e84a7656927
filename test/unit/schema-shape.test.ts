import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/json/types.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { listReduceAnnotations, shapeAt } from '../../shared/schema/shape.ts';

const URI = 'test://cat/shape.schema.json';

function shapes(schema: Json, extra: Record<string, Json> = {}) {
  const registry = new SchemaRegistry({ [URI]: schema, ...extra });
  return {
    at: (ptr: string) => shapeAt(registry, URI, ptr),
    reduces: () => listReduceAnnotations(registry, URI),
  };
}

const orders = shapes({
  type: 'object',
  required: ['id', 'customer', 'total'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    customer: {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string' }, email: { type: 'string', format: 'email' } },
      additionalProperties: false,
    },
    note: { type: ['object', 'null'], required: ['text'], properties: { text: { type: 'string' } } },
    total: {
      allOf: [{ type: ['integer', 'string'] }, { type: ['integer', 'boolean'] }],
      reduce: { strategy: 'sum' },
    },
    lines: {
      type: 'array',
      prefixItems: [{ type: 'string' }],
      items: { type: 'object', properties: { qty: { type: 'integer' } } },
    },
    status: { enum: ['open', 'closed'] },
    kind: { const: 7 },
    either: { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] },
    ref: { $ref: '#/$defs/amount' },
  },
  $defs: { amount: { type: 'number', reduce: { strategy: 'maximize' }, title: 'Amount' } },
});

describe('shapeAt', () => {
  it('existence: required chains must exist, optional ones may, impossible ones cannot', () => {
    expect(orders.at('').exists).toBe('must');
    expect(orders.at('/id').exists).toBe('must');
    expect(orders.at('/customer/name').exists).toBe('must');
    expect(orders.at('/customer/email').exists).toBe('may');
    expect(orders.at('/customer/phone').exists).toBe('cannot');
    expect(orders.at('/note').exists).toBe('may');
    expect(orders.at('/note/text').exists).toBe('may'); // the parent may be missing or null
    expect(orders.at('/id/x').exists).toBe('cannot'); // strings have no properties
    expect(orders.at('/unknown').exists).toBe('may');
  });

  it('types: intersection through allOf, union through anyOf, through $ref, const and enum', () => {
    expect(orders.at('/id').types).toEqual(new Set(['string']));
    expect(orders.at('/total').types).toEqual(new Set(['integer']));
    expect(orders.at('/either').types).toEqual(new Set(['string', 'null']));
    expect(orders.at('/ref').types).toEqual(new Set(['number']));
    expect(orders.at('/status').types).toEqual(new Set(['string']));
    expect(orders.at('/status').values).toEqual(['open', 'closed']);
    expect(orders.at('/kind').types).toEqual(new Set(['integer']));
    expect(orders.at('/unknown').types).toEqual(
      new Set(['null', 'boolean', 'number', 'string', 'array', 'object']),
    );
  });

  it('reduce, format, title, declared properties', () => {
    expect(orders.at('/total').reduce).toEqual({ strategy: 'sum' });
    expect(orders.at('/ref').reduce).toEqual({ strategy: 'maximize' });
    expect(orders.at('/ref').title).toBe('Amount');
    expect(orders.at('/id').reduce).toBeUndefined();
    expect(orders.at('/id').format).toBe('uuid');
    expect(orders.at('/either').format).toBeUndefined(); // the null branch has no format
    expect(orders.at('/customer').properties).toEqual(['email', 'name']);
    expect(orders.at('/customer').additionalProperties).toBe(false);
    expect(orders.at('').additionalProperties).toBe(true);
  });

  it('array items through prefixItems and items', () => {
    expect(orders.at('/lines/0').types).toEqual(new Set(['string']));
    expect(orders.at('/lines/3/qty').types).toEqual(new Set(['integer']));
    expect(orders.at('/lines/3/qty').exists).toBe('may');
  });

  it("an item within minItems of a location that can only be an array must exist (Estuary's locate_token)", () => {
    const s = shapes({
      type: 'object',
      required: ['pair', 'maybe', 'nullable', 'c'],
      properties: {
        pair: { type: 'array', minItems: 2, prefixItems: [{ type: 'string' }, { type: 'integer' }] },
        maybe: { type: 'array', prefixItems: [{ type: 'string' }] },
        nullable: { type: ['array', 'null'], minItems: 1, items: { type: 'string' } },
        // Estuary's collections page, Composite Keys: `key: [/foo/a, /foo/b, /foo/c/0, /foo/c/1]`.
        c: { type: 'array', items: { type: 'boolean' }, minItems: 2 },
      },
    });
    expect(s.at('/pair/0').exists).toBe('must');
    expect(s.at('/pair/1').exists).toBe('must');
    expect(s.at('/pair/2').exists).toBe('may');
    expect(s.at('/maybe/0').exists).toBe('may');
    expect(s.at('/nullable/0').exists).toBe('may'); // it may be null instead
    expect(s.at('/c/1').exists).toBe('must');
    expect(s.at('/c/1').types).toEqual(new Set(['boolean']));
    expect(s.at('/c/2').exists).toBe('may');
    expect(s.at('/pair').tupleItems).toBe(2);
    expect(s.at('/nullable').tupleItems).toBe(0);
  });

  it('if/then/else: the branches are united, each within the if condition', () => {
    const s = shapes({
      type: 'object',
      properties: {
        v: {
          if: { type: 'null' },
          // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
          then: { reduce: { strategy: 'lastWriteWins' } },
          else: { type: 'array', reduce: { strategy: 'append' } },
        },
      },
    });
    expect(s.at('/v').types).toEqual(new Set(['null', 'array']));
    expect(s.at('/v').reduce).toBeUndefined(); // the branches disagree
    expect(s.reduces().map((a) => [a.pointer, a.strategy, [...a.types].sort()])).toEqual([
      ['/v', 'lastWriteWins', ['null']],
      ['/v', 'append', ['array']],
    ]);
  });

  it('terminates on recursive schemas', () => {
    const s = shapes({
      $defs: {
        node: {
          type: 'object',
          properties: {
            v: { type: 'integer' },
            children: { type: 'array', items: { $ref: '#/$defs/node' } },
          },
        },
      },
      $ref: '#/$defs/node',
    });
    expect(s.at('/children/0/children/1/v').types).toEqual(new Set(['integer']));
    expect(s.reduces()).toEqual([]);
  });
});

describe('listReduceAnnotations', () => {
  it('lists annotated locations with the types admitted there, * for any property or item', () => {
    const s = shapes(
      {
        type: 'object',
        reduce: { strategy: 'merge' },
        properties: {
          count: { type: 'integer', reduce: { strategy: 'sum' } },
          big: { type: 'string', format: 'integer', reduce: { strategy: 'sum' } },
          tags: {
            type: 'array',
            items: { type: 'object', reduce: { strategy: 'merge' } },
            reduce: { strategy: 'merge', key: ['/id'] },
          },
          ext: { $ref: 'ext.schema.json' },
        },
        additionalProperties: { type: 'number', reduce: { strategy: 'maximize' } },
      },
      {
        'test://cat/ext.schema.json': {
          type: 'object',
          properties: { seen: { reduce: { strategy: 'set' } } },
        },
      },
    );
    const got = s.reduces().map((a) => ({
      pointer: a.pointer,
      strategy: a.strategy,
      types: [...a.types].sort(),
      format: a.format,
    }));
    expect(got).toEqual([
      { pointer: '', strategy: 'merge', types: ['object'], format: undefined },
      { pointer: '/big', strategy: 'sum', types: ['string'], format: 'integer' },
      { pointer: '/count', strategy: 'sum', types: ['integer'], format: undefined },
      {
        pointer: '/ext/seen',
        strategy: 'set',
        types: ['array', 'boolean', 'null', 'number', 'object', 'string'],
        format: undefined,
      },
      { pointer: '/tags', strategy: 'merge', types: ['array'], format: undefined },
      { pointer: '/tags/*', strategy: 'merge', types: ['object'], format: undefined },
      { pointer: '/*', strategy: 'maximize', types: ['number'], format: undefined },
    ]);
    expect(s.reduces()[3].schemaUri).toBe('test://cat/ext.schema.json#/properties/seen');
  });

  it('leaves out an annotation that the one written beside its $ref overrides', () => {
    // As in Estuary's docs min/max-key example (reduction-strategies/minimize-and-maximize.md).
    const s = shapes({
      type: 'object',
      reduce: { strategy: 'merge' },
      properties: {
        min: { $anchor: 'mm', type: 'array', reduce: { strategy: 'minimize', key: ['/0'] } },
        max: { $ref: '#mm', reduce: { strategy: 'maximize', key: ['/0'] } },
      },
    });
    expect(s.reduces().map((a) => `${a.pointer} ${a.strategy}`)).toEqual([
      ' merge',
      '/max maximize',
      '/min minimize',
    ]);
    expect(s.at('/max').reduce).toEqual({ strategy: 'maximize' });
  });
});
