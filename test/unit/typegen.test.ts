// `sluice generate` types (shared/derive/typegen.ts): `required` is honoured wherever it is written.
import { describe, expect, it } from 'vitest';
import { schemaToType } from '../../shared/derive/typegen.ts';
import type { Json } from '../../shared/json/types.ts';

const URI = 'file:///cat/s.schema.json';
const typeOf = (schema: Json, extra: Record<string, Json> = {}) =>
  schemaToType({ [URI]: schema, ...extra }, URI);

describe('schemaToType', () => {
  it('marks properties listed in `required` beside a $ref as required', () => {
    // As Estuary's shape inference does (crates/doc/src/shape/inference.rs: `required` adds
    // required properties, intersected with the $ref's referent).
    const t = typeOf({
      $defs: {
        reading: { type: 'object', properties: { sensor: { type: 'string' }, temp: { type: 'number' } } },
      },
      $ref: '#/$defs/reading',
      required: ['sensor'],
    });
    expect(t).toContain('sensor: string;');
    expect(t).toContain('temp?: number;');
  });

  it('also beside allOf and through a $ref to another file, and in nested properties', () => {
    const t = typeOf(
      {
        type: 'object',
        properties: { r: { $ref: 'common.schema.json#/$defs/reading', required: ['temp'] } },
        allOf: [{ properties: { id: { type: 'integer' } } }],
        required: ['id', 'r'],
      },
      {
        'file:///cat/common.schema.json': {
          $defs: {
            reading: { type: 'object', properties: { sensor: { type: 'string' }, temp: { type: 'number' } } },
          },
        },
      },
    );
    expect(t).toContain('id: number;');
    expect(t).toContain('r: {');
    expect(t).toContain('temp: number;');
    expect(t).toContain('sensor?: string;');
  });

  it('leaves other properties optional', () => {
    const t = typeOf({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' } },
      required: ['a'],
    });
    expect(t).toContain('a: string;');
    expect(t).toContain('b?: string;');
  });

  it("follows a $ref to a resource embedded by $id, as Estuary's discovered write schemas embed the connector's", () => {
    const t = typeOf({
      $defs: {
        'flow://connector-schema': {
          $id: 'flow://connector-schema',
          type: 'object',
          properties: { id: { type: 'string' }, n: { type: 'integer' } },
          required: ['id'],
        },
      },
      $ref: 'flow://connector-schema',
    });
    expect(t).toContain('id: string;');
    expect(t).toContain('n?: number;');
  });
});
