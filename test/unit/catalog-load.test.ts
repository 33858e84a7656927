// The catalog loader against fixture catalogs: a valid multi-file one, a broken one hitting every
// diagnostic code, import cycles, and Estuary's own syntax.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DIAGNOSTIC_CODES, type Diagnostic } from '../../shared/catalog/diagnostics.ts';
import { hasErrors, loadCatalog } from '../../shared/catalog/load.ts';
import { typescriptOf } from '../../shared/catalog/model.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'catalog');
const ESTUARY_CASES = [
  'ShuffleKeyEmpty',
  'ShuffleKeyWrongType',
  'ShuffleKeyMismatch',
  'NameCollision',
  'ProjectionRemapsCanonicalField',
  'FieldNotFound',
  'FieldUnsatisfiable',
  'DuplicateResource',
  'PartitionHasReduce',
  'SetInvalidProperty',
  'InvalidDefaultValue',
  'ImpossibleMustExist',
];
const uri = (...parts: string[]) => pathToFileURL(join(fixtures, ...parts)).href;

describe('a valid multi-file catalog', async () => {
  const dir = join(fixtures, 'valid');
  const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));

  it('loads without errors; warns of what Sluice does not apply', () => {
    expect(diagnostics.map((d) => `${d.severity} ${d.code} ${d.pointer}`)).toEqual([
      'warning ReadDelayTestOnly /collections/acmeCo~1totals/derive/transforms/0/readDelay',
      'warning FragmentSettingIgnored /collections/acmeCo~1orders/journals/fragments/compressionCodec',
      'warning FragmentSettingIgnored /collections/acmeCo~1orders/journals/fragments/flushInterval',
    ]);
    expect(catalog).toBeDefined();
    expect(catalog!.root).toBe(join(dir, 'flow.yaml'));
    expect(Object.keys(catalog!.collections).sort()).toEqual([
      'acmeCo/customers',
      'acmeCo/orders',
      'acmeCo/totals',
    ]);
  });

  it('keys every schema document by its file:// URI, with $id set to it', () => {
    const schemas = catalog!.schemas;
    for (const [key, doc] of Object.entries(schemas)) expect((doc as { $id: string }).$id).toBe(key);
    expect(Object.keys(schemas)).toContain(uri('valid', 'schemas', 'order.schema.yaml'));
    // Loaded through order.schema.yaml's $refs, not named by any collection.
    expect(Object.keys(schemas)).toContain(uri('valid', 'schemas', 'common.schema.json'));
    const orders = catalog!.collections['acmeCo/orders'];
    expect(orders.writeSchema).toBe(uri('valid', 'schemas', 'order.schema.yaml'));
    expect(orders.readSchema).toBe(orders.writeSchema);
    expect(catalog!.collections['acmeCo/customers'].writeSchema).toBe(
      `${uri('valid', 'schemas', 'common.schema.json')}#/$defs/customer`,
    );
  });

  it('resolves $refs between schema files and fragments (validated through the schema registry)', () => {
    const registry = new SchemaRegistry(catalog!.schemas);
    const orders = registry.validator(catalog!.collections['acmeCo/orders'].writeSchema);
    expect(orders.validate({ id: 1, customer: 'a', region: 'EU', amount: 3 })).toEqual([]);
    // region is `common.schema.json#region` (an $anchor), amount `#/$defs/money`.
    expect(orders.isValid({ id: 1, customer: 'a', region: 'MARS', amount: 3 })).toBe(false);
    expect(orders.isValid({ id: 1, customer: 'a', region: 'EU', amount: -1 })).toBe(false);
    const customers = registry.validator(catalog!.collections['acmeCo/customers'].writeSchema);
    expect(customers.isValid({ id: 'c1' })).toBe(true);
    expect(customers.isValid({ name: 'no id' })).toBe(false);
  });

  it('gives inline schemas their own URI and replaces flow://write-schema in the read schema', () => {
    const totals = catalog!.collections['acmeCo/totals'];
    const file = uri('valid', 'derived', 'totals.flow.json');
    expect(totals.writeSchema).toBe(`${file}?ptr=/collections/acmeCo~1totals/writeSchema`);
    expect(totals.readSchema).toBe(`${file}?ptr=/collections/acmeCo~1totals/readSchema`);
    expect(catalog!.schemas[totals.readSchema]).toMatchObject({ allOf: [{ $ref: totals.writeSchema }] });
    const registry = new SchemaRegistry(catalog!.schemas);
    expect(registry.validator(totals.readSchema).isValid({ customer: 'a', total: 1 })).toBe(true);
    expect(registry.validator(totals.readSchema).isValid({ customer: 'a' })).toBe(false);
  });

  it('builds derivations: absolute module path, transforms with durations, shuffles and partitions', () => {
    const derive = catalog!.collections['acmeCo/totals'].derive!;
    expect(typescriptOf(derive)?.module).toBe(join(dir, 'derived', 'totals.ts'));
    expect(derive.transforms).toEqual([
      {
        name: 'fromOrders',
        source: { name: 'acmeCo/orders', partitions: { include: { region: ['EU', 'US'] } } },
        shuffle: { key: ['/customer'] },
        readDelay: 5400,
        priority: 0,
        disable: false,
        backfill: 0,
      },
    ]);
  });

  it('builds projections, journals, captures and materializations with configs from files', () => {
    const orders = catalog!.collections['acmeCo/orders'];
    expect(orders.projections).toEqual({
      region: { location: '/region', partition: true },
      amount_cents: { location: '/amount', partition: false },
    });
    expect(orders.journals).toEqual({ fragments: { compressionCodec: 'ZSTANDARD', flushInterval: '15m' } });
    expect(orders.source).toEqual({
      file: join(dir, 'orders', 'orders.flow.yaml'),
      line: 2,
      col: 3,
      pointer: '/collections/acmeCo~1orders',
    });
    expect(catalog!.captures['acmeCo/orders-ingest']).toMatchObject({
      endpoint: {
        connector: 'source-http-ingest',
        image: 'ghcr.io/estuary/source-http-ingest:dev',
        config: { paths: ['/orders'] },
      },
      bindings: [{ resource: { path: '/orders' }, target: 'acmeCo/orders', disable: false, backfill: 0 }],
    });
    const m = catalog!.materializations['acmeCo/totals-to-postgres'];
    expect(m.endpoint).toEqual({
      connector: 'materialize-postgres',
      image: 'ghcr.io/estuary/materialize-postgres:v1',
      config: { address: 'localhost:5432', database: 'postgres', user: 'postgres', password: 'secret' },
    });
    expect(m.bindings.map((b) => [b.source, b.fields])).toEqual([
      [{ name: 'acmeCo/totals' }, { recommended: true, exclude: ['flow_published_at'] }],
      [{ name: 'acmeCo/orders', partitions: { include: { region: ['EU', 'US'] } } }, { recommended: true }],
    ]);
  });

  it('builds tests with fixture files and partition-selected verifies, and storage mappings', () => {
    const t = catalog!.tests['acmeCo/tests/totals'];
    expect(t.description).toBe('Orders add up per customer.');
    expect(t.steps.map((s) => s.kind)).toEqual(['ingest', 'verify']);
    expect(t.steps[0]).toMatchObject({
      collection: 'acmeCo/orders',
      documents: [{ id: 1 }, { id: 2 }, { id: 3 }],
    });
    expect(t.steps[0].source).toMatchObject({ file: join(dir, 'flow.yaml'), line: 35, col: 9 });
    const byRegion = catalog!.tests['acmeCo/tests/orders-by-region'];
    expect(byRegion.steps[1]).toMatchObject({
      kind: 'verify',
      collection: { name: 'acmeCo/orders', partitions: { include: { region: ['US'] } } },
      documents: [{ id: 10 }],
    });
    expect(catalog!.storageMappings).toEqual({
      'acmeCo/': {
        prefix: 'acmeCo/',
        stores: [{ provider: 'S3', bucket: 'acme-flow-data', prefix: 'collections/' }],
      },
      'recovery/acmeCo/': {
        prefix: 'recovery/acmeCo/',
        stores: [{ provider: 'S3', bucket: 'acme-flow-recovery', region: 'us-east-1' }],
      },
    });
  });

  it('is JSON-serializable as is (Lambda bundles ship it as JSON)', () => {
    expect(JSON.parse(JSON.stringify(catalog))).toEqual(catalog);
  });
});

/** [code, file (relative to the fixture), line, col, pointer, hint] */
type Expected = [Diagnostic['code'], string, number, number, string, string?];

const BROKEN: Expected[] = [
  // flow.yaml
  ['FileNotFound', 'flow.yaml', 6, 5, '/import/3'],
  // A remote import that cannot be fetched (nothing listens on port 9) and was never cached.
  ['RemoteFetchFailed', 'flow.yaml', 8, 5, '/import/5'],
  [
    'UnknownConnector',
    'flow.yaml',
    21,
    16,
    '/materializations/acmeCo~1to-warehouse/endpoint/connector/image',
  ],
  [
    'NotPartition',
    'flow.yaml',
    29,
    24,
    '/materializations/acmeCo~1to-warehouse/bindings/1/source/partitions/include/colour',
    'did you mean `color`?',
  ],
  ['StorageMappingOverlap', 'flow.yaml', 44, 3, '/storageMappings/acmeCo~1anvils~1'],
  // structure.flow.yaml
  ['UnknownProperty', 'structure.flow.yaml', 5, 5, '/collections/acmeCo~1widgets/kye', 'did you mean `key`?'],
  [
    'InvalidValue',
    'structure.flow.yaml',
    7,
    38,
    '/collections/acmeCo~1widgets/journals/fragments/compressionCodec',
    'did you mean `GZIP`?',
  ],
  ['InvalidName', 'structure.flow.yaml', 8, 3, '/collections/acmeCo~1bad name'],
  ['WrongType', 'structure.flow.yaml', 10, 10, '/collections/acmeCo~1bad name/key'],
  ['ConflictingProperties', 'structure.flow.yaml', 13, 5, '/collections/acmeCo~1both/writeSchema'],
  ['InvalidPointer', 'structure.flow.yaml', 14, 11, '/collections/acmeCo~1both/key/0'],
  ['Unsupported', 'structure.flow.yaml', 20, 9, '/collections/acmeCo~1legacy/derive/using/python'],
  ['MissingProperty', 'structure.flow.yaml', 24, 3, '/captures/acmeCo~1ingest'],
  [
    'ConnectorKindMismatch',
    'structure.flow.yaml',
    27,
    16,
    '/captures/acmeCo~1ingest/endpoint/connector/image',
  ],
  ['InvalidDuration', 'structure.flow.yaml', 29, 15, '/captures/acmeCo~1ingest/interval'],
  // keys.flow.yaml
  ['DuplicateName', 'keys.flow.yaml', 6, 3, '/collections/acmeCo~1anvils'],
  ['KeyEmpty', 'keys.flow.yaml', 11, 10, '/collections/acmeCo~1keys~1empty/key'],
  [
    'ReduceWrongType',
    'keys.flow.yaml',
    20,
    40,
    '/collections/acmeCo~1keys~1bad/schema/properties/label/reduce',
  ],
  [
    'ReduceUnreachable',
    'keys.flow.yaml',
    20,
    40,
    '/collections/acmeCo~1keys~1bad/schema/properties/label/reduce',
    'add `reduce: {strategy: merge}` at the document root',
  ],
  [
    'KeyNotRequired',
    'keys.flow.yaml',
    23,
    11,
    '/collections/acmeCo~1keys~1bad/key/0',
    'add `id` to `required`',
  ],
  ['KeyNotFound', 'keys.flow.yaml', 23, 16, '/collections/acmeCo~1keys~1bad/key/1'],
  ['KeyWrongType', 'keys.flow.yaml', 23, 23, '/collections/acmeCo~1keys~1bad/key/2'],
  ['KeyHasReduce', 'keys.flow.yaml', 23, 32, '/collections/acmeCo~1keys~1bad/key/3'],
  ['ProjectionNotFound', 'keys.flow.yaml', 25, 16, '/collections/acmeCo~1keys~1bad/projections/missing'],
  ['PartitionNotRequired', 'keys.flow.yaml', 26, 14, '/collections/acmeCo~1keys~1bad/projections/by_id'],
  ['PartitionWrongType', 'keys.flow.yaml', 27, 16, '/collections/acmeCo~1keys~1bad/projections/by_size'],
  ['SchemaNotObject', 'keys.flow.yaml', 29, 13, '/collections/acmeCo~1keys~1not-object/schema'],
  ['SchemaNotFound', 'keys.flow.yaml', 32, 13, '/collections/acmeCo~1keys~1fragment/schema'],
  // At the keyword that is wrong, not the schema around it.
  ['SchemaInvalid', 'keys.flow.yaml', 35, 21, '/collections/acmeCo~1keys~1invalid-schema/schema/type'],
  ['IngestDocumentInvalid', 'keys.flow.yaml', 44, 13, '/tests/acmeCo~1tests~1anvils/0/ingest/documents/1'],
  ['TestVerifyOrder', 'keys.flow.yaml', 52, 13, '/tests/acmeCo~1tests~1anvils/2/verify/documents/1'],
  [
    'UnknownCollection',
    'keys.flow.yaml',
    46,
    21,
    '/tests/acmeCo~1tests~1anvils/1/verify/collection',
    'did you mean `acmeCo/anvils`?',
  ],
  ['Unsupported', 'schemas/anvil.schema.yaml', 1, 10, '/$schema'],
  // A misspelt keyword would constrain nothing.
  [
    'UnknownKeyword',
    'schemas/anvil.schema.yaml',
    5,
    26,
    '/properties/color/maxLenght',
    'did you mean `maxLength`?',
  ],
  // derive.flow.yaml
  // As Estuary: a capture may not write a derived collection.
  ['CaptureOfDerivation', 'derive.flow.yaml', 57, 55, '/captures/acmeCo~1derived~1capture/bindings/0/target'],
  [
    'NotImported',
    'derive.flow.yaml',
    11,
    19,
    '/collections/acmeCo~1derived~1totals/derive/transforms/0/source',
    'add `import: [./flow.yaml]`',
  ],
  [
    'ShuffleKeyNotFound',
    'derive.flow.yaml',
    12,
    28,
    '/collections/acmeCo~1derived~1totals/derive/transforms/0/shuffle/key/0',
  ],
  [
    'InvalidDuration',
    'derive.flow.yaml',
    13,
    22,
    '/collections/acmeCo~1derived~1totals/derive/transforms/0/readDelay',
  ],
  [
    'DuplicateTransform',
    'derive.flow.yaml',
    14,
    17,
    '/collections/acmeCo~1derived~1totals/derive/transforms/1/name',
  ],
  [
    'MissingMethod',
    'derive.flow.yaml',
    17,
    17,
    '/collections/acmeCo~1derived~1totals/derive/transforms/2/name',
    'did you mean `fromWidget`?',
  ],
  [
    'ModuleInvalid',
    'derive.flow.yaml',
    25,
    31,
    '/collections/acmeCo~1derived~1no-class/derive/using/typescript/module',
  ],
  [
    'FileNotFound',
    'derive.flow.yaml',
    35,
    31,
    '/collections/acmeCo~1derived~1no-module/derive/using/typescript/module',
  ],
  [
    'InvalidValue',
    'derive.flow.yaml',
    39,
    20,
    '/collections/acmeCo~1derived~1no-module/derive/transforms/0/shuffle',
  ],
  ['UnusedMethod', 'totals.ts', 6, 3, '', 'did you mean `fromWidgets`?'],
  ['ReduceUnreachable', 'schemas/total.schema.json', 5, 44, '/properties/total/reduce'],
  ['ParseError', 'syntax.flow.yaml', 6, 5, ''],
];

describe('a broken catalog', async () => {
  const dir = join(fixtures, 'broken');
  const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
  const rel = (d: Diagnostic) => relative(dir, d.file);

  it('yields no catalog, and collects every problem instead of stopping at the first', () => {
    expect(catalog).toBeUndefined();
    expect(hasErrors(diagnostics)).toBe(true);
    expect(diagnostics.length).toBeGreaterThanOrEqual(BROKEN.length);
  });

  it.each(BROKEN)('reports %s in %s at line %i col %i', (code, file, line, col, pointer, hint) => {
    const found = diagnostics.filter((d) => d.code === code && rel(d) === file && d.pointer === pointer);
    expect(found.map((d) => [d.line, d.col])).toContainEqual([line, col]);
    if (hint !== undefined) expect(found.map((d) => d.hint)).toContain(hint);
  });

  it('hits every diagnostic code', () => {
    const codes = new Set(diagnostics.map((d) => d.code));
    // Derivation runtime checks run only on an otherwise valid catalog: derive-sqlite.test.ts has them.
    // ShardSettingIgnored: the Estuary-syntax catalog below has it; InferredSchemaStandIn: the discovered
    // read schema below.
    const runtime = [
      'SqlInvalid',
      'ParamNotFound',
      'ModuleUnresolved',
      'ModuleTypeError',
      'ImportMapIgnored',
      'LambdaIgnored',
      'ShardSettingIgnored',
      'InferredSchemaStandIn',
      // On a valid catalog only (routing.test.ts).
      'ShuffleOneShard',
      // Its own case below (a catalog pulled from Estuary).
      'ControlPlaneIgnored',
      // Its own case at the end (source-s3's errorThreshold).
      'ConnectorSettingIgnored',
    ];
    // Codes whose cases are in catalog-validation-estuary.test.ts, one catalog per case.
    runtime.push(...ESTUARY_CASES);
    expect(
      Object.keys(DIAGNOSTIC_CODES).filter(
        (c) => !codes.has(c as Diagnostic['code']) && !runtime.includes(c),
      ),
    ).toEqual([]);
  });

  it('says what was found and what is allowed', () => {
    const msg = (code: string, pointerEnd: string) =>
      diagnostics.find((d) => d.code === code && d.pointer.endsWith(pointerEnd))?.message;
    expect(msg('UnknownProperty', '/kye')).toContain('allowed: `schema`, `writeSchema`, `readSchema`, `key`');
    expect(msg('UnknownConnector', '/image')).toContain('`materialize-snowflake`');
    expect(msg('UnknownConnector', '/image')).toContain('`materialize-postgres`');
    expect(msg('KeyWrongType', '/key/2')).toBe(
      'key `/weight` may be number in the schema; keys must be of type string, integer or boolean',
    );
    expect(msg('IngestDocumentInvalid', '/documents/1')).toBe(
      'test acmeCo/tests/anvils step 0: document 1 of the ingest into `acmeCo/anvils` does not validate against its write schema: /weight: must be number, found "heavy"',
    );
    expect(msg('NotImported', '/transforms/2/source')).toContain(
      `collection \`acmeCo/widgets\` is defined in ${relative(process.cwd(), join(dir, 'structure.flow.yaml'))}, which this file does not import`,
    );
    expect(msg('Unsupported', '/python')).toContain('Python derivations are not supported');
    expect(msg('SchemaInvalid', '~1invalid-schema/schema/type')).toBe(
      '`type` is "objekt"; allowed: one of "array", "boolean", "integer", "null", "number", "object", "string", or an array',
    );
    // Connector configs and resources are checked against the connector registry's schemas.
    expect(msg('InvalidConnectorConfig', '/config/retries')).toBe(
      'materialize-webhook config: unknown property "retries"; allowed: address, headers, signingSecret, maxRetries, batchSize, timeoutMs',
    );
    expect(msg('InvalidBindingResource', '/resource/relativePath')).toBe(
      'materialize-webhook resource: missing required property "relativePath"',
    );
    // Estuary's crates/validation test_step.rs: Error::TestVerifyOrder.
    expect(msg('TestVerifyOrder', '/verify/documents/1')).toBe(
      'documents to verify are not in collection key order: document 1 (key ["a1"]) sorts before document 0 (key ["a2"]) by the key [/id] of `acmeCo/anvils`',
    );
  });

  it('marks only advice as warnings', () => {
    const warnings = diagnostics.filter((d) => d.severity === 'warning').map((d) => d.code);
    expect(new Set(warnings)).toEqual(
      new Set([
        'ReduceUnreachable',
        'UnknownKeyword',
        'UnusedMethod',
        'ReadDelayTestOnly',
        'FragmentSettingIgnored',
        'NotImported',
      ]),
    );
  });

  it('does not repeat a typo as a missing property, nor a schema file problem per collection', () => {
    expect(
      diagnostics.filter((d) => d.code === 'MissingProperty' && d.pointer === '/collections/acmeCo~1widgets'),
    ).toEqual([]);
    expect(diagnostics.filter((d) => rel(d) === 'schemas/total.schema.json')).toHaveLength(1);
    expect(diagnostics.filter((d) => d.code === 'SchemaInvalid')).toHaveLength(1);
  });
});

describe('import cycles', () => {
  it('load each file once, and references resolve both ways around the cycle', async () => {
    for (const root of ['a.flow.yaml', 'sub/c.flow.yaml']) {
      const { catalog, diagnostics } = await loadCatalog(join(fixtures, 'cycles', root));
      expect(diagnostics).toEqual([]);
      expect(Object.keys(catalog!.collections).sort()).toEqual(['acmeCo/a', 'acmeCo/b', 'acmeCo/c']);
      expect(catalog!.materializations['acmeCo/b-out'].bindings[0].source.name).toBe('acmeCo/b');
      expect(catalog!.tests['acmeCo/tests/a-and-c'].steps).toHaveLength(2);
    }
  });
});

describe("a catalog in Estuary's exact syntax", () => {
  it('loads unchanged', async () => {
    const dir = join(fixtures, 'estuary');
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => `${d.severity} ${d.code}`)).toEqual([
      'warning FragmentSettingIgnored',
      'warning ReadDelayTestOnly',
      'warning ShardSettingIgnored',
    ]);
    expect(diagnostics.find((d) => d.code === 'ShardSettingIgnored')).toMatchObject({
      pointer: '/collections/acmeBank~1balances/derive/shards/minTxnDuration',
      message: expect.stringContaining('`disable` and `logLevel` are applied'),
    });
    const balances = catalog!.collections['acmeBank/balances'];
    expect(balances.derive!.transforms[0]).toMatchObject({
      name: 'fromTransfers',
      source: { name: 'acmeBank/transfers', partitions: { include: { transfer_kind: ['wire'] } } },
      shuffle: { key: ['/sender'] },
      priority: 1,
      readDelay: 3600,
    });
    expect(balances.derive!.shards).toEqual({ minTxnDuration: '5s' });
    expect(catalog!.captures['acmeBank/transfers-ingest'].endpoint.connector).toBe('source-http-ingest');
    expect(catalog!.materializations['acmeBank/balances-pg'].bindings[0].fields).toEqual({
      recommended: true,
      include: { user: {} },
    });
    expect(catalog!.collections['acmeBank/transfers'].journals?.fragments).toEqual({
      length: 512,
      compressionCodec: 'GZIP',
      retention: '720h',
    });
  });
});

describe('edge cases', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sluice-catalog-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  const write = (files: Record<string, string>) => {
    const dir = join(tmp, String(n++));
    for (const [name, text] of Object.entries(files)) {
      const path = join(dir, name);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
    }
    return dir;
  };
  const SCHEMA = '{ type: object, properties: { id: { type: string } }, required: [id] }';

  it('a `pattern` that is no regular expression is an error at the pattern, whether or not a test uses the collection', async () => {
    // Before, only ajv's compiler saw it: `sluice check` passed, then a test or `sluice combine` failed.
    for (const withTest of [false, true]) {
      const dir = write({
        'flow.yaml': [
          'collections:',
          '  acmeCo/kw:',
          '    schema:',
          '      type: object',
          '      required: [id]',
          '      properties:',
          '        id: { type: string, pattern: "([" }',
          '        tags: { type: object, patternProperties: { "^ok$": {}, "a{2,1}": {} } }',
          '    key: [/id]',
          ...(withTest
            ? [
                'tests:',
                '  acmeCo/tests/kw:',
                '    - ingest: { collection: acmeCo/kw, documents: [{ id: a }] }',
              ]
            : []),
          '',
        ].join('\n'),
      });
      const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
      expect(catalog).toBeUndefined();
      expect(diagnostics.map((d) => [d.code, d.line, d.col, d.pointer, d.message])).toEqual([
        [
          'SchemaInvalid',
          7,
          38,
          '/collections/acmeCo~1kw/schema/properties/id/pattern',
          '`pattern` "([" is not a regular expression (ECMA-262 with the `u` flag, as JSON Schema\'s are): Unterminated character class',
        ],
        [
          'SchemaInvalid',
          8,
          64,
          '/collections/acmeCo~1kw/schema/properties/tags/patternProperties/a{2,1}',
          expect.stringMatching(
            /^the `patternProperties` name "a\{2,1\}" is not a regular expression .*: numbers out of order/,
          ),
        ],
      ]);
    }
  });

  it('an ingest document failing several oneOf branches the same way names that problem once', async () => {
    // Estuary's soak-tests/set-ops writes operations as a oneOf of two shapes that both require `Author`.
    const dir = write({
      'flow.yaml': [
        'collections:',
        '  acmeCo/ops:',
        '    schema:',
        '      oneOf:',
        '        - { type: object, properties: { Author: { type: string }, Add: { type: integer } }, required: [Author, Add] }',
        '        - { type: object, properties: { Author: { type: string }, Remove: { type: integer } }, required: [Author, Remove] }',
        '    key: [/Author]',
        'tests:',
        '  acmeCo/tests/ops:',
        '    - ingest: { collection: acmeCo/ops, documents: [{ author: ann, Add: 1 }] }',
        '',
      ].join('\n'),
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    const invalid = diagnostics.filter((d) => d.code === 'IngestDocumentInvalid');
    expect(invalid).toHaveLength(1);
    expect(invalid[0].message.split("must have required property 'Author'")).toHaveLength(2);
    expect(invalid[0].message).toContain('must match exactly one schema in oneOf');
  });

  it('warns once of an unreachable reduce in a shared schema file, naming the collections it applies to', async () => {
    // Estuary's derive-patterns share one schema between a collection whose root merges and one whose
    // root replaces: the inner annotation is unreachable for the second only.
    const dir = write({
      'row.schema.yaml': [
        'type: object',
        'properties:',
        '  id: { type: string }',
        '  n: { type: integer, reduce: { strategy: sum } }',
        'required: [id]',
        '',
      ].join('\n'),
      'flow.yaml': [
        'collections:',
        '  acmeCo/merged:',
        '    schema: { $ref: row.schema.yaml, reduce: { strategy: merge } }',
        '    key: [/id]',
        '  acmeCo/plain:',
        '    schema: row.schema.yaml',
        '    key: [/id]',
        '  acmeCo/plain-too:',
        '    schema: row.schema.yaml',
        '    key: [/id]',
        '',
      ].join('\n'),
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => [d.code, relative(dir, d.file), d.line, d.pointer, d.message])).toEqual([
      [
        'ReduceUnreachable',
        'row.schema.yaml',
        4,
        '/properties/n/reduce',
        '`sum` at `/n` in the schema of `acmeCo/plain` and `acmeCo/plain-too` never applies: the document root has no reduce annotation (lastWriteWins), which replaces the whole value instead of reducing inside it',
      ],
    ]);
  });

  it('resolves a collection another file defines without importing it, as Estuary does (a warning)', async () => {
    const dir = write({
      'flow.yaml': `import: [b.flow.yaml]\ncollections:\n  acmeCo/a:\n    schema: ${SCHEMA}\n    key: [/id]\n`,
      // b reads acmeCo/a but does not import flow.yaml: both files are in the catalog.
      'b.flow.yaml': [
        'materializations:',
        '  acmeCo/m:',
        '    endpoint: { connector: { image: materialize-webhook, config: { address: "http://127.0.0.1:9/x" } } }',
        '    bindings: [{ source: acmeCo/a, resource: { relativePath: /a } }]',
        '',
      ].join('\n'),
    });
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => `${d.severity} ${d.code}`)).toEqual(['warning NotImported']);
    expect(catalog?.materializations['acmeCo/m'].bindings[0].source.name).toBe('acmeCo/a');
  });

  it('reports a missing root file instead of throwing', async () => {
    const { catalog, diagnostics } = await loadCatalog(join(tmp, 'nope.yaml'));
    expect(catalog).toBeUndefined();
    expect(diagnostics).toMatchObject([
      { code: 'FileNotFound', file: join(tmp, 'nope.yaml'), line: 1, col: 1 },
    ]);
  });

  it('reports a YAML syntax error where it is, and skips that file without cascading errors', async () => {
    const dir = write({
      'flow.yaml': 'import: [broken.flow.yaml]\ncollections: {}\n',
      'broken.flow.yaml': 'collections:\n  acmeCo/a:\n    key: [/id\n    schema: x.yaml\n',
    });
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(catalog).toBeUndefined();
    expect(diagnostics).toMatchObject([
      {
        code: 'ParseError',
        severity: 'error',
        file: join(dir, 'broken.flow.yaml'),
        line: 4,
        col: 5,
        pointer: '',
      },
    ]);
  });

  it('treats an empty file as an empty catalog', async () => {
    const dir = write({ 'flow.yaml': '# nothing yet\n' });
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics).toEqual([]);
    expect(catalog!.collections).toEqual({});
  });

  it('writes an inline TypeScript module to .sluice/modules/<collection>.ts and checks it', async () => {
    const module = 'export class Derivation {\n  fromA(read: { doc: unknown }) { return [read.doc]; }\n}\n';
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/a: { schema: ${SCHEMA}, key: [/id] }
  acmeCo/copy:
    schema: ${SCHEMA}
    key: [/id]
    derive:
      using:
        typescript:
          module: |
${module
  .split('\n')
  .map((l) => `            ${l}`)
  .join('\n')}
      transforms:
        - { name: fromA, source: acmeCo/a, shuffle: any }
        - { name: fromB, source: acmeCo/a, shuffle: any }
`,
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    const path = join(dir, '.sluice', 'modules', 'acmeCo', 'copy.ts');
    expect(readFileSync(path, 'utf8')).toBe(module);
    expect(diagnostics.map((d) => [d.code, d.pointer])).toEqual([
      ['MissingMethod', '/collections/acmeCo~1copy/derive/transforms/1/name'],
    ]);
    expect(diagnostics[0].message).toContain(relative(process.cwd(), path));
  });

  it('with allowMissingModules, a missing module file is not an error (sluice generate writes it)', async () => {
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/a: { schema: ${SCHEMA}, key: [/id] }
  acmeCo/b:
    schema: ${SCHEMA}
    key: [/id]
    derive:
      using: { typescript: { module: b.ts } }
      transforms: [{ name: fromA, source: acmeCo/a, shuffle: any }]
`,
    });
    const strict = await loadCatalog(join(dir, 'flow.yaml'));
    expect(strict.diagnostics.map((d) => d.code)).toEqual(['FileNotFound']);
    const lenient = await loadCatalog(join(dir, 'flow.yaml'), { allowMissingModules: true });
    expect(lenient.diagnostics).toEqual([]);
    expect(typescriptOf(lenient.catalog!.collections['acmeCo/b'].derive)?.module).toBe(join(dir, 'b.ts'));
    expect(existsSync(join(dir, 'b.ts'))).toBe(false);
  });

  it('locates problems in JSON catalog files by line and column', async () => {
    const dir = write({
      'flow.json':
        '{\n  "collections": {\n    "acmeCo/a": {\n      "schema": {"type": "object"},\n      "kee": ["/id"]\n    }\n  }\n}\n',
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.json'));
    expect(diagnostics).toMatchObject([
      {
        code: 'UnknownProperty',
        line: 5,
        col: 7,
        pointer: '/collections/acmeCo~1a/kee',
        hint: 'did you mean `key`?',
      },
    ]);
  });

  it('gives each collection its own copy of a read schema file that refers to flow://write-schema', async () => {
    const dir = write({
      'read.schema.yaml': 'allOf: [{ $ref: "flow://write-schema" }]\n',
      'flow.yaml': `collections:
  acmeCo/a: { writeSchema: ${SCHEMA}, readSchema: read.schema.yaml, key: [/id] }
  acmeCo/b:
    writeSchema: { type: object, properties: { id: { type: string } }, required: [id, n] }
    readSchema: read.schema.yaml
    key: [/id]
`,
    });
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const a = catalog!.collections['acmeCo/a'];
    const b = catalog!.collections['acmeCo/b'];
    expect(a.readSchema).not.toBe(b.readSchema);
    expect(catalog!.schemas[a.readSchema]).toMatchObject({ allOf: [{ $ref: a.writeSchema }] });
    expect(catalog!.schemas[b.readSchema]).toMatchObject({ allOf: [{ $ref: b.writeSchema }] });
    const registry = new SchemaRegistry(catalog!.schemas);
    expect(registry.validator(b.readSchema).isValid({ id: 'x' })).toBe(false);
    expect(registry.validator(a.readSchema).isValid({ id: 'x' })).toBe(true);
  });

  it("reads Estuary's discovered read schema (relaxed write schema and inferred schema) as the write schema, saying what stands for inference", async () => {
    // As Estuary's discovery writes it: the connector's schema embedded as $defs["flow://connector-schema"]
    // (with that $id) and referenced; the read schema the intersection of the two flow:// schemas.
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/a:
    writeSchema:
      $defs:
        flow://connector-schema:
          $id: flow://connector-schema
          type: object
          properties: { id: { type: string }, n: { type: integer, reduce: { strategy: sum } } }
          required: [id]
          reduce: { strategy: merge }
          x-infer-schema: true
      $ref: flow://connector-schema
    readSchema:
      allOf:
        - $ref: flow://relaxed-write-schema
        - $ref: flow://inferred-schema
    key: [/id]
  acmeCo/b:
    writeSchema:
      $defs:
        flow://connector-schema:
          $id: flow://connector-schema
          type: object
          properties: { code: { type: integer } }
          required: [code]
      $ref: flow://connector-schema
    readSchema: { allOf: [{ $ref: flow://relaxed-write-schema }, { $ref: flow://inferred-schema }] }
    key: [/code]
`,
    });
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => [d.severity, d.code, d.line, d.pointer])).toEqual([
      ['warning', 'InferredSchemaStandIn', 16, '/collections/acmeCo~1a/readSchema/allOf/1/$ref'],
      ['warning', 'InferredSchemaStandIn', 27, '/collections/acmeCo~1b/readSchema/allOf/1/$ref'],
    ]);
    expect(diagnostics[0].message).toContain("stands for the collection's write schema");
    const a = catalog!.collections['acmeCo/a'];
    expect(catalog!.schemas[a.readSchema]).toMatchObject({
      allOf: [{ $ref: a.writeSchema }, { $ref: a.writeSchema }],
    });
    const registry = new SchemaRegistry(catalog!.schemas);
    // The embedded connector schema is what validates: `id` required, `n` an integer.
    expect(registry.validator(a.writeSchema).isValid({ id: 'x', n: 1 })).toBe(true);
    expect(registry.validator(a.writeSchema).isValid({ n: 1 })).toBe(false);
    expect(registry.validator(a.readSchema).isValid({ id: 'x', n: 'one' })).toBe(false);
    // Each collection's embedded `flow://connector-schema` is its own, though the catalog's schemas are
    // compiled together.
    const b = catalog!.collections['acmeCo/b'];
    expect(registry.validator(b.writeSchema).isValid({ code: 1 })).toBe(true);
    expect(registry.validator(b.writeSchema).isValid({ id: 'x' })).toBe(false);
    expect(registry.validator(a.writeSchema).isValid({ code: 1 })).toBe(false);
  });

  it('where the write schema stands for the inferred schema, an undeclared projection, shuffle key or required field is a warning', async () => {
    // A webhook capture's discovered collection declares little beyond _meta: Estuary's inferred schema
    // would declare /customer_id once documents carry it, so Sluice cannot call it an error.
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/hooks:
    writeSchema:
      type: object
      properties: { _meta: { type: object, properties: { webhookId: { type: string } }, required: [webhookId] } }
      required: [_meta]
      x-infer-schema: true
    readSchema: { allOf: [{ $ref: flow://relaxed-write-schema }, { $ref: flow://inferred-schema }] }
    key: [/_meta/webhookId]
    projections: { customer: /customer_id }
  acmeCo/declared:
    schema: ${SCHEMA}
    key: [/id]
    projections: { customer: /customer_id }
  acmeCo/per-customer:
    schema: { type: object, properties: { customer_id: { type: string } }, required: [customer_id] }
    key: [/customer_id]
    derive:
      using: { typescript: { module: per-customer.ts } }
      transforms:
        - { name: fromHooks, source: acmeCo/hooks, shuffle: { key: [/customer_id] } }
materializations:
  acmeCo/to-ddb:
    endpoint: { connector: { image: ghcr.io/estuary/materialize-dynamodb:dev, config: { region: us-east-1 } } }
    bindings:
      - source: acmeCo/hooks
        resource: { table: hooks }
        fields: { require: { customer_id: {} }, recommended: true }
`,
      'per-customer.ts': 'export class Derivation { fromHooks() { return []; } }\n',
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(
      diagnostics
        .filter((d) => d.code !== 'InferredSchemaStandIn')
        .map((d) => [d.severity, d.code, d.pointer]),
    ).toEqual([
      ['warning', 'ProjectionNotFound', '/collections/acmeCo~1hooks/projections/customer'],
      // The same projection on a collection with its own schema stays an error.
      ['error', 'ProjectionNotFound', '/collections/acmeCo~1declared/projections/customer'],
      [
        'warning',
        'ShuffleKeyNotFound',
        '/collections/acmeCo~1per-customer/derive/transforms/0/shuffle/key/0',
      ],
      ['warning', 'FieldNotFound', '/materializations/acmeCo~1to-ddb/bindings/0/fields/require/customer_id'],
    ]);
    expect(diagnostics.find((d) => d.code === 'FieldNotFound')?.message).toContain(
      'here the write schema stands for `flow://inferred-schema`',
    );
  });

  it('a key naming an undeclared property close to a declared one gets a did-you-mean', async () => {
    const dir = write({ 'flow.yaml': `collections:\n  acmeCo/a: { schema: ${SCHEMA}, key: [/idd] }\n` });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => [d.code, d.pointer, d.hint])).toEqual([
      ['KeyNotRequired', '/collections/acmeCo~1a/key/0', 'did you mean `id`?'],
    ]);
  });

  it('rejects flow:// schemas outside a read schema, unknown ones, and remote schemas clearly', async () => {
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/a: { schema: { allOf: [{ $ref: "flow://inferred-schema" }] }, key: [/id] }
  acmeCo/b: { schema: "ftp://example.com/b.schema.json", key: [/id] }
  acmeCo/c:
    writeSchema: ${SCHEMA}
    readSchema: { allOf: [{ $ref: "flow://write-schema" }, { $ref: "flow://other-schema" }] }
    key: [/id]
`,
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.filter((d) => d.severity === 'error').map((d) => [d.code, d.pointer])).toEqual([
      ['Unsupported', '/collections/acmeCo~1a/schema/allOf/0/$ref'],
      ['Unsupported', '/collections/acmeCo~1b/schema'],
      ['Unsupported', '/collections/acmeCo~1c/readSchema/allOf/1/$ref'],
    ]);
    expect(diagnostics[0].message).toContain('may only be used in a `readSchema`, alongside a `writeSchema`');
    expect(diagnostics[2].message).toContain('a read schema may reference `flow://write-schema`');
  });

  it('rejects Estuary features Sluice lacks by name, not as unknown properties', async () => {
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/a: { schema: ${SCHEMA}, key: [/id], delete: true }
materializations:
  acmeCo/m:
    endpoint: { dekaf: { variant: x, config: {} } }
    bindings: []
`,
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => [d.code, d.pointer])).toEqual([
      ['Unsupported', '/collections/acmeCo~1a/delete'],
      ['Unsupported', '/materializations/acmeCo~1m/endpoint/dekaf'],
    ]);
  });

  it("loads a catalog pulled from Estuary: its control plane's properties are warnings that say what Sluice does instead", async () => {
    // They were Unsupported errors, so a catalog pulled with `flowctl catalog pull-specs` did not load.
    const dir = write({
      'flow.yaml': `collections:
  acmeCo/a: { schema: ${SCHEMA}, key: [/id], expectPubId: "00:11:22:33:44:55:66:77" }
captures:
  acmeCo/c:
    autoDiscover: { addNewBindings: true, evolveIncompatibleCollections: true }
    endpoint: { connector: { image: ghcr.io/estuary/source-http-ingest:dev, config: {} } }
    bindings: [{ resource: { path: /a }, target: acmeCo/a }]
materializations:
  acmeCo/m:
    sourceCapture: acmeCo/c
    onIncompatibleSchemaChange: backfill
    endpoint: { connector: { image: ghcr.io/estuary/materialize-dynamodb:v1, config: { region: us-east-1 } } }
    bindings:
      - source: acmeCo/a
        resource: { table: a }
        priority: 2
        onIncompatibleSchemaChange: disableBinding
`,
    });
    const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => [d.severity, d.code, d.pointer])).toEqual([
      ['warning', 'ControlPlaneIgnored', '/collections/acmeCo~1a/expectPubId'],
      ['warning', 'ControlPlaneIgnored', '/captures/acmeCo~1c/autoDiscover'],
      ['warning', 'ControlPlaneIgnored', '/materializations/acmeCo~1m/sourceCapture'],
      ['warning', 'ControlPlaneIgnored', '/materializations/acmeCo~1m/onIncompatibleSchemaChange'],
      ['warning', 'ControlPlaneIgnored', '/materializations/acmeCo~1m/bindings/0/priority'],
      ['warning', 'ControlPlaneIgnored', '/materializations/acmeCo~1m/bindings/0/onIncompatibleSchemaChange'],
    ]);
    expect(diagnostics[1].message).toContain('`autoDiscover` is ignored: Sluice does not discover');
    expect(diagnostics[2].message).toContain(
      'a collection added to that capture later needs a binding added here',
    );
    expect(catalog?.materializations['acmeCo/m'].bindings.map((b) => b.source.name)).toEqual(['acmeCo/a']);
    expect(catalog?.captures['acmeCo/c'].bindings.map((b) => b.target)).toEqual(['acmeCo/a']);
  });

  it('checks a test step has exactly one of ingest or verify, and fixture files hold lists', async () => {
    const dir = write({
      'docs.yaml': '{ id: not-a-list }\n',
      'flow.yaml': `collections:
  acmeCo/a: { schema: ${SCHEMA}, key: [/id] }
tests:
  acmeCo/t:
    - ingest: { collection: acmeCo/a, documents: docs.yaml }
      verify: { collection: acmeCo/a, documents: [] }
    - ingest: { collection: acmeCo/a, documents: docs.yaml }
`,
    });
    const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
    expect(diagnostics.map((d) => [d.code, relative(dir, d.file), d.pointer])).toEqual([
      ['WrongType', 'docs.yaml', ''],
      ['InvalidValue', 'flow.yaml', '/tests/acmeCo~1t/0'],
    ]);
  });
});

describe('source-s3 parser settings of Estuary that would skip records', () => {
  it('errorThreshold is accepted with a ConnectorSettingIgnored warning at its pointer (Sluice skips no record)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-s3-threshold-'));
    try {
      writeFileSync(
        join(dir, 'flow.yaml'),
        `collections:
  acme/rows:
    schema: { type: object, properties: { id: { type: string } }, required: [id] }
    key: [/id]
captures:
  acme/files:
    endpoint:
      connector:
        image: ghcr.io/estuary/source-s3:dev
        config:
          bucket: landing
          parser:
            format: { type: csv, config: { delimiter: "0x09", quote: "", errorThreshold: 5, skipLines: 1 } }
    bindings:
      - resource: { stream: landing/in }
        target: acme/rows
`,
      );
      const { catalog, diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
      expect(catalog).toBeDefined();
      expect(diagnostics.map((d) => [d.severity, d.code, d.pointer])).toEqual([
        [
          'warning',
          'ConnectorSettingIgnored',
          '/captures/acme~1files/endpoint/connector/config/parser/format/config/errorThreshold',
        ],
      ]);
      expect(diagnostics[0].message).toMatch(/skips no record/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
