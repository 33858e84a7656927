// The catalog loader's parts: durations, names, diagnostics, source positions, module inspection,
// and structural validation against schemas/flow.schema.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Diagnostic,
  didYouMean,
  editDistance,
  formatDiagnostic,
  formatDiagnostics,
  sortDiagnostics,
} from '../../shared/catalog/diagnostics.ts';
import { DurationError, parseDuration } from '../../shared/catalog/duration.ts';
import {
  CONTROL_PLANE,
  FLOW_SCHEMA,
  UNSUPPORTED,
  validateCatalogShape,
} from '../../shared/catalog/flow-schema.ts';
import { inspectDerivationModule } from '../../shared/catalog/module.ts';
import {
  connectorImageName,
  resolveConnectorImage,
  transformMethodName,
  transformSourceTypeName,
} from '../../shared/catalog/names.ts';
import { SourceDoc } from '../../shared/catalog/source.ts';
import { isObject } from '../../shared/json/types.ts';

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['5m', 300],
    ['48h', 172_800],
    ['2h30m', 9000],
    ['1h 30m', 5400],
    ['1 hour', 3600],
    ['2 days', 172_800],
    ['1w', 604_800],
    ['500ms', 0.5],
    ['  90 seconds ', 90],
  ])('%s is %d seconds', (input, seconds) => {
    expect(parseDuration(input)).toBeCloseTo(seconds, 9);
  });

  it.each([
    ['', 'it is empty'],
    ['5', '`5` has no unit'],
    ['5 parsecs', 'unknown unit `parsecs`'],
    ['1.5h', 'unexpected `1.5h`'],
    ['h', 'unexpected `h`'],
  ])('rejects %j: %s', (input, reason) => {
    expect(() => parseDuration(input)).toThrow(DurationError);
    try {
      parseDuration(input);
    } catch (err) {
      expect((err as DurationError).reason).toBe(reason);
      expect((err as DurationError).code).toBe('InvalidDuration');
    }
  });
});

describe('names', () => {
  it("maps transform names to methods and source types as Estuary's codegen does", () => {
    expect(transformMethodName('fromOrders')).toBe('fromOrders');
    expect(transformMethodName('from-orders')).toBe('fromOrders');
    expect(transformMethodName('from.orders_v2')).toBe('fromOrdersV2');
    expect(transformSourceTypeName('from-orders')).toBe('SourceFromOrders');
  });

  it('resolves connector images', () => {
    expect(resolveConnectorImage('source-http-ingest')).toBe('source-http-ingest');
    expect(resolveConnectorImage('ghcr.io/estuary/source-http-ingest:dev')).toBe('source-http-ingest');
    expect(resolveConnectorImage('ghcr.io/estuary/materialize-postgres')).toBe('materialize-postgres');
    expect(resolveConnectorImage('ghcr.io/estuary/source-s3@sha256:0123abcd')).toBe('source-s3');
    expect(resolveConnectorImage('materialize-dynamodb:v2')).toBe('materialize-dynamodb');
    expect(resolveConnectorImage('ghcr.io/estuary/materialize-snowflake:dev')).toBeUndefined();
    expect(resolveConnectorImage('docker.io/acme/source-http-ingest:1')).toBeUndefined();
    expect(connectorImageName('docker.io/acme/source-http-ingest:1')).toBe(
      'docker.io/acme/source-http-ingest',
    );
  });
});

describe('diagnostics', () => {
  const d = (over: Partial<Diagnostic>): Diagnostic => ({
    code: 'UnknownProperty',
    severity: 'error',
    message: 'a collection has no property `kye`',
    file: '/work/cat/flow.yaml',
    line: 3,
    col: 5,
    pointer: '/collections/a/kye',
    ...over,
  });

  it('formats `file:line:col: CODE: message (at /pointer) hint`, relative to the cwd', () => {
    expect(formatDiagnostic(d({ hint: 'did you mean `key`?' }), '/work/cat')).toBe(
      'flow.yaml:3:5: UnknownProperty: a collection has no property `kye` (at /collections/a/kye) did you mean `key`?',
    );
    expect(
      formatDiagnostic(d({ severity: 'warning', code: 'UnusedMethod', pointer: '' }), '/work/other'),
    ).toBe('../cat/flow.yaml:3:5: warning: UnusedMethod: a collection has no property `kye`');
    expect(formatDiagnostics([d({}), d({ line: 4 })], '/work').split('\n')).toHaveLength(2);
  });

  it('sorts by file, line and column', () => {
    const sorted = sortDiagnostics([
      d({ line: 9 }),
      d({ file: '/a.yaml', line: 20 }),
      d({ line: 3, col: 1 }),
    ]);
    expect(sorted.map((x) => [x.file, x.line, x.col])).toEqual([
      ['/a.yaml', 20, 5],
      ['/work/cat/flow.yaml', 3, 1],
      ['/work/cat/flow.yaml', 9, 5],
    ]);
  });

  it('measures edits, counting an adjacent swap as one', () => {
    expect(editDistance('key', 'key')).toBe(0);
    expect(editDistance('kye', 'key')).toBe(1);
    expect(editDistance('colour', 'color')).toBe(1);
    expect(editDistance('schema', 'shcmea')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the closest candidate only when it is close', () => {
    expect(didYouMean('kye', ['schema', 'key', 'derive'])).toBe('key');
    expect(didYouMean('Key', ['key'])).toBe('key');
    expect(didYouMean('writeSchemas', ['schema', 'writeSchema', 'readSchema'])).toBe('writeSchema');
    expect(didYouMean('projection', ['projections', 'journals'])).toBe('projections');
    expect(didYouMean('zzz', ['key', 'schema'])).toBeUndefined();
    expect(didYouMean('key', ['key'])).toBeUndefined();
  });
});

describe('SourceDoc positions', () => {
  const doc = SourceDoc.parse(
    '/x/flow.yaml',
    'collections:\n  acme/a:\n    key: [/id, /b]\n    schema: &s { type: object }\n  acme/b:\n    schema: *s\n',
  );

  it('maps pointers to values, or to keys on request', () => {
    expect(doc.problems).toEqual([]);
    expect(doc.position('/collections/acme~1a/key/1')).toEqual({ line: 3, col: 16 });
    expect(doc.position('/collections/acme~1a/key', { key: true })).toEqual({ line: 3, col: 5 });
    expect(doc.position('/collections/acme~1a/key')).toEqual({ line: 3, col: 10 });
    expect(doc.position('')).toEqual({ line: 1, col: 1 });
  });

  it('follows aliases, and stops at the deepest location that exists', () => {
    expect(doc.position('/collections/acme~1b/schema/type')).toEqual({ line: 4, col: 24 });
    expect(doc.position('/collections/acme~1a/nope/deeper')).toEqual({ line: 3, col: 5 });
  });

  it('reports a duplicate key but keeps the document; other syntax errors leave no value', () => {
    const dup = SourceDoc.parse('/x/a.yaml', 'a: 1\nb: 2\na: 3\n');
    expect(dup.problems).toMatchObject([{ severity: 'error', line: 3, col: 1 }]);
    expect(dup.value).toEqual({ a: 3, b: 2 }); // the last one wins
    const bad = SourceDoc.parse('/x/b.yaml', 'a: [1, 2\nb: 3\n');
    expect(bad.value).toBeUndefined();
    expect(bad.problems[0]).toMatchObject({ severity: 'error', line: 2, col: 1 });
  });

  it('parses JSON too, with positions', () => {
    const json = SourceDoc.parse('/x/a.json', '{\n  "a": {\n    "b": [1, 2]\n  }\n}\n');
    expect(json.value).toEqual({ a: { b: [1, 2] } });
    expect(json.position('/a/b/1')).toEqual({ line: 3, col: 14 });
  });
});

describe('inspectDerivationModule', () => {
  const inspect = async (text: string) => {
    const r = await inspectDerivationModule('/x/m.ts', text);
    if (r.kind !== 'ok') return r;
    return {
      kind: r.kind,
      methods: [...r.derivation.methods.keys()].sort(),
      helpers: [...r.derivation.helpers],
    };
  };

  it('lists methods of the exported class Derivation, without running the module', async () => {
    const r = await inspect(`
      import { IDerivation } from 'flow/acme/x.ts';
      throw new Error('never executed');
      export class Derivation extends IDerivation {
        static make() { return new Derivation(); }
        fromA(read: { doc: unknown }) { return [read.doc]; }
        fromB = (read: { doc: unknown }) => [read.doc];
        private helper() { return 1; }
        flush() { return []; }
        count = 0;
      }`);
    expect(r).toEqual({ kind: 'ok', methods: ['flush', 'fromA', 'fromB', 'helper'], helpers: ['helper'] });
  });

  it('follows `export { X as Derivation }` and local base classes, skipping abstract declarations', async () => {
    const r = await inspect(`
      abstract class Base { fromBase() { return []; } abstract fromA(): unknown[]; }
      class Impl extends Base { fromA() { return []; } }
      export { Impl as Derivation };`);
    expect(r).toEqual({ kind: 'ok', methods: ['fromA', 'fromBase'], helpers: [] });
  });

  it('says what a module exports when it has no Derivation class', async () => {
    const r = await inspect(
      'export function fromA() { return []; }\nexport const x = 1;\nclass Derivation {}\n',
    );
    expect(r).toEqual({ kind: 'noDerivation', exported: ['fromA', 'x'] });
  });

  it('gives method positions in the module file', async () => {
    const r = await inspectDerivationModule(
      '/x/m.ts',
      'export class Derivation {\n  fromA() { return []; }\n}\n',
    );
    expect(r.kind === 'ok' && r.derivation.methods.get('fromA')).toEqual({ line: 2, col: 3 });
  });
});

describe('structural validation (schemas/flow.schema.json)', () => {
  const check = (yaml: string) =>
    validateCatalogShape(SourceDoc.parse('/x/flow.yaml', yaml))
      .sort((a, b) => (a.pointer < b.pointer ? -1 : 1))
      .map((d) => [d.code, d.pointer, d.message, d.hint]);

  it('names unsupported Estuary properties as such, never as unknown', () => {
    expect(
      check(`collections:
  a/b:
    schema: {}
    key: [/id]
    derive:
      using: { typescript: { module: m.ts } }
      transforms:
        - { name: t, source: a/c, shuffle: { lambda: "select 1" }, lambda: "select 1" }
`),
    ).toEqual([
      // A transform `lambda` is Estuary's (SQLite derivations); a shuffle lambda is not supported.
      [
        'Unsupported',
        '/collections/a~1b/derive/transforms/0/shuffle/lambda',
        '`lambda`: shuffle lambdas are not supported; use `any` or `{key: [/ptr, ...]}`',
        undefined,
      ],
    ]);
  });

  it("a capture endpoint's errors name a capture endpoint, a materialization's a materialization endpoint (Estuary's former `airbyteSource`)", () => {
    expect(
      check(`captures:
  a/in:
    endpoint: { airbyteSource: { image: ghcr.io/estuary/source-hello-world:dev, config: {} } }
    bindings: []
materializations:
  a/out:
    endpoint: { dekaf: { variant: x, config: {} } }
    bindings: []
`),
    ).toEqual([
      ['MissingProperty', '/captures/a~1in/endpoint', 'a capture endpoint must have `connector`', undefined],
      [
        'UnknownProperty',
        '/captures/a~1in/endpoint/airbyteSource',
        'a capture endpoint has no property `airbyteSource`; allowed: `connector`',
        "`airbyteSource` is Estuary's former name of `connector`: rename it, keeping `image` and `config`",
      ],
      [
        'Unsupported',
        '/materializations/a~1out/endpoint/dekaf',
        '`dekaf`: Dekaf (Kafka-protocol) materializations are not supported',
        undefined,
      ],
    ]);
  });

  it("no two $defs of the catalog schema are equal: an error is named by its definition's text", () => {
    const defs = Object.entries((FLOW_SCHEMA as { $defs: Record<string, unknown> }).$defs);
    const byText = new Map<string, string[]>();
    for (const [name, def] of defs) {
      const text = JSON.stringify(def);
      byText.set(text, [...(byText.get(text) ?? []), name]);
    }
    expect([...byText.values()].filter((names) => names.length > 1)).toEqual([]);
  });

  it('a transform without shuffle is told what shuffle may be', () => {
    expect(
      check(`collections:
  a/b:
    schema: {}
    key: [/id]
    derive:
      using: { sqlite: {} }
      transforms:
        - { name: t, source: a/c, lambda: "select 1" }
`),
    ).toEqual([
      [
        'MissingProperty',
        '/collections/a~1b/derive/transforms/0',
        'a transform must have `shuffle`: `any` (documents go to any shard) or `{key: [/pointer, ...]}` (by those locations)',
        undefined,
      ],
    ]);
  });

  it('derive.using has exactly one runtime; using.typescript needs module or files', () => {
    expect(
      check(`collections:
  a/b:
    schema: {}
    key: [/id]
    derive:
      using: { typescript: { module: m.ts }, sqlite: { migrations: [] } }
      transforms: []
  a/c:
    schema: {}
    key: [/id]
    derive:
      using: { typescript: {} }
      transforms: []
`),
    ).toEqual([
      [
        'InvalidValue',
        '/collections/a~1b/derive/using',
        '`derive.using` has exactly one of `typescript` or `sqlite`',
        undefined,
      ],
      [
        'MissingProperty',
        '/collections/a~1c/derive/using/typescript',
        '`using.typescript` needs `module` (a file or inline TypeScript) or `files`',
        undefined,
      ],
    ]);
  });

  it('explains wrong types, bad names, bad prefixes and malformed steps', () => {
    expect(
      check(`materializations:
  a/m:
    endpoint: { connector: { image: materialize-postgres, config: {} } }
    bindings: [{ resource: {}, source: 7 }]
storageMappings:
  acme: { stores: [{ provider: GCS, bucket: b-1 }] }
tests:
  a/t: [{}]
`),
    ).toEqual([
      [
        'WrongType',
        '/materializations/a~1m/bindings/0/source',
        'expected a string or an object, found an integer',
        undefined,
      ],
      [
        'InvalidName',
        '/storageMappings/acme',
        '`acme` is not a storage prefix: name components of letters, numbers, `-`, `_`, `.`, each ending in `/` (`acmeCo/`)',
        undefined,
      ],
      [
        'InvalidValue',
        '/storageMappings/acme/stores/0/provider',
        'found `"GCS"`; allowed: `"S3"`',
        undefined,
      ],
      ['InvalidValue', '/tests/a~1t/0', 'a test step has exactly one of `ingest` or `verify`', undefined],
    ]);
  });

  it('the unsupported table names only properties the schema does not have', () => {
    const defs = (FLOW_SCHEMA as { $defs: Record<string, { properties?: Record<string, unknown> }> }).$defs;
    for (const [def, props] of [...Object.entries(UNSUPPORTED), ...Object.entries(CONTROL_PLANE)]) {
      expect(defs[def], def).toBeDefined();
      for (const prop of Object.keys(props))
        expect(defs[def].properties?.[prop], `${def}.${prop}`).toBeUndefined();
    }
  });

  it('accepts every fixture catalog file that the loader accepts', () => {
    const root = join(import.meta.dirname, '..', 'fixtures', 'catalog');
    for (const file of [
      'valid/flow.yaml',
      'valid/orders/orders.flow.yaml',
      'valid/derived/totals.flow.json',
      'estuary/flow.yaml',
    ]) {
      const doc = SourceDoc.parse(file, readFileSync(join(root, file), 'utf8'));
      expect(isObject(doc.value), file).toBe(true);
      expect(validateCatalogShape(doc), file).toEqual([]);
    }
  });
});
