// The `sluice dev --generate` load generator: valid documents for catalogs it has never seen.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { extractKey } from '../../shared/keys/index.ts';
import { DocGenerator, GeneratorError, parseRate } from '../../shared/local/generate.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const root = join(import.meta.dirname, '..', '..');

function catalogOf(schema: object): BuiltCatalog {
  const uri = 'file:///gen/flow.yaml?ptr=/collections/t/schema';
  return {
    root: '/gen/flow.yaml',
    schemas: {
      [uri]: { $id: uri, ...schema },
      'file:///gen/common.schema.json': {
        $id: 'file:///gen/common.schema.json',
        $defs: { code: { type: 'string', pattern: '^[A-Z]{3}-\\d{2}$' } },
      },
    },
    collections: {
      t: {
        name: 't',
        writeSchema: uri,
        readSchema: uri,
        key: ['/id'],
        projections: {},
        source: { file: '/gen/flow.yaml', line: 1, col: 1, pointer: '' },
      },
    },
    captures: {},
    materializations: {},
    tests: {},
    storageMappings: {},
  };
}

describe('DocGenerator', () => {
  it.each([
    ['examples/clickstream/flow.yaml', 'acmeCo/clickstream/events'],
    ['examples/fraud/flow.yaml', 'acmeBank/fraud/transactions'],
    ['examples/warehouse/flow.yaml', 'acmeCo/sales/orders'],
  ])('makes valid documents with distinct keys for %s', async (path, collection) => {
    const { catalog } = await loadCatalog(join(root, path));
    const registry = new SchemaRegistry(catalog!.schemas);
    const gen = new DocGenerator(catalog!, collection, registry);
    const validator = registry.validator(catalog!.collections[collection].writeSchema);
    const keys = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const doc = gen.next();
      expect(validator.validate(doc)).toEqual([]);
      keys.add(JSON.stringify(extractKey(doc, catalog!.collections[collection].key)));
    }
    expect(keys.size).toBe(300);
  });

  it('follows $ref across files, allOf, oneOf, patterns and exclusive bounds', () => {
    const catalog = catalogOf({
      type: 'object',
      properties: {
        id: { type: 'integer', exclusiveMinimum: 0 },
        code: { $ref: 'common.schema.json#/$defs/code' },
        ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        kind: { oneOf: [{ const: 'a' }, { const: 'b' }] },
        tags: { type: 'array', items: { type: 'string', minLength: 3 }, minItems: 2 },
      },
      allOf: [{ required: ['id', 'code', 'ratio', 'kind', 'tags'] }],
    });
    const registry = new SchemaRegistry(catalog.schemas);
    const gen = new DocGenerator(catalog, 't', registry);
    for (let i = 0; i < 100; i++) {
      const doc = gen.next() as { code: string; ratio: number };
      expect(doc.code).toMatch(/^[A-Z]{3}-\d{2}$/);
      expect(doc.ratio).toBeGreaterThan(0);
      expect(doc.ratio).toBeLessThan(1);
    }
  });

  it('reports a schema it cannot satisfy once, with the violation', () => {
    const catalog = catalogOf({
      type: 'object',
      properties: { id: { type: 'integer' }, s: { type: 'string', not: { type: 'string' } } },
      required: ['id', 's'],
    });
    const gen = new DocGenerator(catalog, 't');
    expect(() => gen.next()).toThrow(GeneratorError);
    expect(() => gen.next()).toThrow(/cannot make a valid document of t \(last try: \/s: must NOT be valid/);
  });

  it('parses rates', () => {
    expect(parseRate('500/s')).toBe(500);
    expect(parseRate('2.5')).toBe(2.5);
    expect(() => parseRate('fast')).toThrow('--generate expects <n>/s');
  });
});
