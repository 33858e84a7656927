// SQLite derivations with Estuary's semantics (crates/derive-sqlite: param.rs, lambda.rs, dbutil.rs),
// and the state of stateful derivations committed with their checkpoint (memory adapters).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { mergePatch } from '../../shared/derive/engine.ts';
import { createDerivationRunner } from '../../shared/derive/load-module.ts';
import { canonicalEncoding, type Param, resolveParam } from '../../shared/derive/sqlite/params.ts';
import { parameterNames, unterminatedTail } from '../../shared/derive/sqlite/statements.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import type { Json } from '../../shared/json/types.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import { metaUuid } from '../../shared/meta/uuid.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function catalogOf(name: string, yaml: string, files: Record<string, string> = {}) {
  const d = join(dir, name);
  for (const [f, text] of Object.entries({ 'flow.yaml': yaml, ...files })) {
    const p = join(d, f);
    (await import('node:fs')).mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return loadCatalog(join(d, 'flow.yaml'));
}

const SOURCE = `
collections:
  acme/in:
    schema:
      type: object
      properties:
        id: { type: integer }
        case: { type: string }
        in: {}
        nested: { type: object, properties: { prop: { type: string }, "with-hyphen": { type: integer } } }
        strInt: { type: string, format: integer }
      required: [id]
    key: [/id]
`;

function derived(
  lambda: string,
  migrations = '[]',
  schema = '{ type: object, properties: { id: { type: integer } }, required: [id] }',
) {
  return `${SOURCE}
  acme/out:
    schema: ${schema}
    key: [/id]
    derive:
      using: { sqlite: { migrations: ${migrations} } }
      transforms:
        - name: fromIn
          source: acme/in
          shuffle: any
          lambda: ${lambda}
`;
}

async function runnerFor(name: string, lambda: string, migrations?: string) {
  const { catalog, diagnostics } = await catalogOf(name, derived(lambda, migrations));
  if (!catalog) throw new Error(JSON.stringify(diagnostics, null, 2));
  return createDerivationRunner(catalog, new SchemaRegistry(catalog.schemas), 'acme/out');
}

describe('SQLite parameters (param.rs)', () => {
  it("over a source whose write schema stands for Estuary's inferred schema, a parameter may name an undeclared location", async () => {
    // A webhook capture's discovered collection: its write schema declares only _meta; the documents
    // carry what an inferred schema would declare. Elsewhere an undeclared parameter stays an error.
    const yaml = (read: string) => `
collections:
  acme/in:
    writeSchema:
      type: object
      properties: { _meta: { type: object, properties: { webhookId: { type: string } }, required: [webhookId] } }
      required: [_meta]
      x-infer-schema: true
    readSchema: ${read}
    key: [/_meta/webhookId]
  acme/out:
    schema: { type: object, properties: { id: { type: string }, city: { type: [string, "null"] } }, required: [id] }
    key: [/id]
    derive:
      using: { sqlite: {} }
      transforms:
        - { name: fromIn, source: acme/in, shuffle: any, lambda: "SELECT $customer_id AS id, $address$city AS city;" }
`;
    const inferred = await catalogOf(
      'inferred-params',
      yaml('{ allOf: [{ $ref: flow://relaxed-write-schema }, { $ref: flow://inferred-schema }] }'),
    );
    expect(inferred.catalog?.collections['acme/in'].inferredStandIn).toBe(true);
    const runner = await createDerivationRunner(
      inferred.catalog!,
      new SchemaRegistry(inferred.catalog!.schemas),
      'acme/out',
    );
    expect(
      await runner.onSource('fromIn', [
        { _meta: { webhookId: 'w1' }, customer_id: 'c1', address: { city: 'Oslo' } },
        { _meta: { webhookId: 'w2' }, customer_id: 'c2' },
      ]),
    ).toEqual([
      { id: 'c1', city: 'Oslo' },
      { id: 'c2', city: null },
    ]);
    const declared = await catalogOf('declared-params', yaml('{ allOf: [{ $ref: flow://write-schema }] }'));
    expect(declared.diagnostics.filter((d) => d.code === 'ParamNotFound').map((d) => d.severity)).toEqual([
      'error',
    ]);
  });

  it('encodes fields as Estuary does and resolves each encoding back', () => {
    const fixtures: [string, string][] = [
      ['Simple', '$Simple'],
      ['under_Score', '$under_Score'],
      ['with space', '$with_space'],
      ['with-hyphen', '$with_hyphen'],
      ['äëïöü/4-2', '$äëïöü$4_2'],
      ['With/Nesting', '$With$Nesting'],
      ['with$Dollar', '$p::(with$Dollar)'],
      ['With/Nesting/and+special-hyphen', '$p::(With/Nesting/and+special-hyphen)'],
      ['hello, world!', '$p::(hello,_world!)'],
    ];
    const params: Param[] = fixtures.map(([field]) => ({
      field,
      pointer: `/${field}`,
      encoding: canonicalEncoding(field),
    }));
    for (const [field, encoding] of fixtures) {
      expect(canonicalEncoding(field)).toBe(encoding);
      expect(resolveParam(encoding, params).field).toBe(field);
    }
    expect(() => resolveParam('$simplee', params)).toThrow(
      'parameter $simplee not found: did you mean `$Simple`?',
    );
    expect(() => resolveParam('$with$nesting', params)).toThrow('did you mean `$With$Nesting`?');
  });

  it("finds SQLite's `$` variables, skipping literals, quoted names and comments", () => {
    expect(
      parameterNames(`-- $commented
        select '$not' as "$neither", $id, $p::(nested/prop), $a$b /* $c */, col$umn from t where x = $id;`),
    ).toEqual(['$id', '$p::(nested/prop)', '$a$b']);
  });
});

describe('SQLite lambdas (lambda.rs)', () => {
  it('binds document locations and maps rows to documents as Estuary does', async () => {
    const runner = await runnerFor(
      'types',
      "'select $id, $case, $in as output, $nested$prop, $nested$with_hyphen, $strInt * 10 as int10;'",
    );
    const docs: Json[] = [
      { id: 1, case: 'true', in: true },
      { id: 2, case: 'string', in: 'hello' },
      { id: 3, case: 'array', in: '[1,2,"three"]' },
      { id: 4, case: 'obj', in: '{"four": 4}' },
      { id: 5, case: 'invalid-array', in: '[1 2 "three"]' },
      { id: 6, case: 'missing', nested: { prop: 'p', 'with-hyphen': 7 }, strInt: '12' },
    ];
    const out = await runner.onSource('fromIn', docs);
    expect(out).toEqual([
      { id: 1, case: 'true', output: 1, 'nested/prop': null, 'nested/with-hyphen': null, int10: null },
      {
        id: 2,
        case: 'string',
        output: 'hello',
        'nested/prop': null,
        'nested/with-hyphen': null,
        int10: null,
      },
      {
        id: 3,
        case: 'array',
        output: [1, 2, 'three'],
        'nested/prop': null,
        'nested/with-hyphen': null,
        int10: null,
      },
      {
        id: 4,
        case: 'obj',
        output: { four: 4 },
        'nested/prop': null,
        'nested/with-hyphen': null,
        int10: null,
      },
      {
        id: 5,
        case: 'invalid-array',
        output: '[1 2 "three"]',
        'nested/prop': null,
        'nested/with-hyphen': null,
        int10: null,
      },
      // A string of format integer binds as an integer (12 * 10, not a text concatenation).
      { id: 6, case: 'missing', output: null, 'nested/prop': 'p', 'nested/with-hyphen': 7, int10: 120 },
    ]);
  });

  it('publishes a single json_object column as the document itself; a statement without rows publishes nothing', async () => {
    const runner = await runnerFor(
      'json',
      "\"insert into seen (id) values ($id) on conflict do nothing; select json_object('id', $id, 'first', changes() > 0) where true;\"",
      "['create table seen (id integer primary key);']",
    );
    expect(await runner.onSource('fromIn', [{ id: 1 }, { id: 1 }, { id: 2 }])).toEqual([
      { id: 1, first: 1 },
      { id: 1, first: 0 },
      { id: 2, first: 1 },
    ]);
  });
});

describe('SQLite parameters of array items', () => {
  // Estuary's docs (concepts/derivations.md, Parameters): "you can use parameters like `$top_level`,
  // `$object$foo`, or `$arr$0`". A tuple item is a location of its own in Estuary's shape
  // (crates/doc shape/location.rs `locations`: tuple items by index, `items: {…}` only as a pattern).
  const arrays = (arr: string) => `
collections:
  acme/in:
    schema:
      type: object
      properties:
        id: { type: integer }
        arr: ${arr}
      required: [id]
    key: [/id]
  acme/out:
    schema: { type: object, properties: { id: { type: integer } }, required: [id] }
    key: [/id]
    derive:
      using: { sqlite: {} }
      transforms:
        - name: fromIn
          source: acme/in
          shuffle: any
          lambda: select $id, $arr$0 as first, $arr$1$x as second;
`;

  it.each([
    [
      'prefixItems',
      '{ type: array, prefixItems: [{ type: string }, { type: object, properties: { x: { type: integer } } }] }',
    ],
    [
      'draft 2019-09 items: [...]',
      '{ type: array, items: [{ type: string }, { type: object, properties: { x: { type: integer } } }] }',
    ],
  ])('bind a tuple item by its index (%s)', async (name, arr) => {
    const { catalog, diagnostics } = await catalogOf(`tuple-${name.replace(/\W+/g, '-')}`, arrays(arr));
    expect(diagnostics).toEqual([]);
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    expect(await runner.onSource('fromIn', [{ id: 1, arr: ['bar', { x: 7 }] }, { id: 2 }])).toEqual([
      { id: 1, first: 'bar', second: 7 },
      { id: 2, first: null, second: null },
    ]);
  });

  it('an item of `items: {…}` alone is no location, as in Estuary: ParamNotFound at the lambda', async () => {
    const { catalog, diagnostics } = await catalogOf(
      'items-only',
      arrays('{ type: array, items: { type: string } }'),
    );
    expect(catalog).toBeUndefined();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'ParamNotFound',
        pointer: '/collections/acme~1out/derive/transforms/0/lambda',
        message: expect.stringContaining('parameter $arr$0 not found'),
      }),
    ]);
  });
});

describe('SQLite parameters of properties whose names hold `/` or `~`', () => {
  // Estuary's canonical field is the JSON pointer without its leading `/`, escapes kept (crates/validation
  // collection.rs `ptr.to_string()[1..]`), and param.rs resolves a parameter against that field: the
  // property `a/b` is `$p::(a~1b)`, while `$a$b` is the nested `/a/b`.
  const catalogText = (lambda: string) => `
collections:
  acme/in:
    schema:
      type: object
      properties:
        id: { type: integer }
        "a/b": { type: string }
        "t~x": { type: integer }
        a: { type: object, properties: { b: { type: string } } }
      required: [id]
    key: [/id]
  acme/out:
    schema: { type: object, properties: { id: { type: integer } }, required: [id] }
    key: [/id]
    derive:
      using: { sqlite: {} }
      transforms:
        - name: fromIn
          source: acme/in
          shuffle: any
          lambda: ${lambda}
`;

  it('bind by the escaped field, apart from the nested location of the same unescaped name', async () => {
    const { catalog, diagnostics } = await catalogOf(
      'escaped-fields',
      catalogText('select $id, $p::(a~1b) as slash, $p::(t~0x) as tilde, $a$b as nested;'),
    );
    expect(diagnostics).toEqual([]);
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    expect(await runner.onSource('fromIn', [{ id: 1, 'a/b': 'top', 't~x': 7, a: { b: 'deep' } }])).toEqual([
      { id: 1, slash: 'top', tilde: 7, nested: 'deep' },
    ]);
  });

  it('the unescaped spelling of such a property is ParamNotFound, pointing at the escaped one', async () => {
    const { catalog, diagnostics } = await catalogOf(
      'unescaped-field',
      catalogText('select $id, $p::(t~x) as n;'),
    );
    expect(catalog).toBeUndefined();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'ParamNotFound',
        message: expect.stringContaining('parameter $p::(t~x) not found: did you mean `$p::(t~0x)`?'),
      }),
    ]);
  });
});

describe('SQLite parameters of missing locations', () => {
  it("bind the schema's default (converted as any value), while an explicit null binds NULL", async () => {
    // Estuary binds each parameter through its projection's extractor, whose value for a missing
    // location is the default the schema declares there (crates/extractors `for_projection`).
    const { catalog, diagnostics } = await catalogOf(
      'defaults',
      `
collections:
  acme/in:
    schema:
      type: object
      properties:
        id: { type: integer }
        tag: { type: [string, "null"], default: untagged }
        weight: { type: string, format: integer, default: "5" }
        plain: { type: string }
      required: [id]
    key: [/id]
  acme/out:
    schema: { type: object, properties: { id: { type: integer } }, required: [id] }
    key: [/id]
    derive:
      using: { sqlite: {} }
      transforms:
        - name: fromIn
          source: acme/in
          shuffle: any
          lambda: select $id, $tag, $weight * 2 as double, $plain;
`,
    );
    expect(diagnostics).toEqual([]);
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    expect(
      await runner.onSource('fromIn', [{ id: 1 }, { id: 2, tag: null, weight: '21' }, { id: 3, tag: 'x' }]),
    ).toEqual([
      { id: 1, tag: 'untagged', double: 10, plain: null },
      { id: 2, tag: null, double: 42, plain: null },
      { id: 3, tag: 'x', double: 10, plain: null },
    ]);
  });
});

describe('SQLite parameters of encoded strings', () => {
  it('bind a number string only when Rust parses it, canonical base64 as a blob, and 64-bit integers as integers', async () => {
    // Estuary binds a `format: number` string as the f64 Rust's parser reads (no whitespace, no hex),
    // a `format: integer` one as any i64, a `contentEncoding: base64` string as the bytes its STANDARD
    // engine decodes, anything else as text, and every JSON integer as an integer
    // (crates/derive-sqlite lambda.rs bind_parameter_node).
    const { catalog, diagnostics } = await catalogOf(
      'encoded',
      `
collections:
  acme/in:
    schema:
      type: object
      properties:
        id: { type: integer }
        num: { type: string, format: number }
        b64: { type: string, contentEncoding: base64 }
        big: { type: integer }
        huge: { type: string, format: integer }
      required: [id]
    key: [/id]
  acme/out:
    schema: { type: object, properties: { id: { type: integer } }, required: [id] }
    key: [/id]
    derive:
      using: { sqlite: {} }
      transforms:
        - name: fromIn
          source: acme/in
          shuffle: any
          lambda: select $id, typeof($num) as numType, $num * 2 as num2, typeof($b64) as b64Type, length($b64) as b64Len, $b64, $big / 1000 as bigK, $huge || '' as hugeText;
`,
    );
    expect(diagnostics).toEqual([]);
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    expect(
      await runner.onSource('fromIn', [
        { id: 1, num: '1.25e1', b64: 'aGk=', big: 1_700_000_000_123, huge: '9007199254740993' },
        { id: 2, num: ' 7', b64: 'aGk', big: 5 },
        { id: 3, num: '0x10', b64: 'a b=', huge: '+12' },
        { id: 4, num: '-INF' },
      ]),
    ).toEqual([
      // A blob publishes as base64 again; the epoch milliseconds divide as integers.
      {
        id: 1,
        numType: 'real',
        num2: 25,
        b64Type: 'blob',
        b64Len: 2,
        b64: 'aGk=',
        bigK: 1_700_000_000,
        hugeText: '9007199254740993',
      },
      { id: 2, numType: 'text', num2: 14, b64Type: 'text', b64Len: 3, b64: 'aGk', bigK: 0, hugeText: null },
      {
        id: 3,
        numType: 'text',
        num2: 0,
        b64Type: 'text',
        b64Len: 4,
        b64: 'a b=',
        bigK: null,
        hugeText: '12',
      },
      {
        id: 4,
        numType: 'real',
        // Rust formats a double JSON cannot hold.
        num2: '-inf',
        b64Type: 'null',
        b64Len: null,
        b64: null,
        bigK: null,
        hugeText: null,
      },
    ]);
  });
});

describe('SQLite migrations (dbutil.rs bootstrap_and_migrate)', () => {
  it('applies each migration once: reopening committed state with one appended runs only the new one', async () => {
    const m0 = "'create table one (id integer primary key not null); insert into one (id) values (4), (5);'";
    const m1 =
      "'alter table one add column value text default ''hello''; insert into one (id, value) values (6, ''new'');'";
    const lambda =
      "'select json_object(''id'', 0, ''rows'', json_group_array(json_object(''id'', id, ''value'', value))) as json from one;'";
    const before = await runnerFor(
      'migrate-a',
      "'select json_object(''id'', 0, ''rows'', json_group_array(id)) as json from one;'",
      `[${m0}]`,
    );
    expect(await before.onSource('fromIn', [{ id: 0 }])).toEqual([{ id: 0, rows: [4, 5] }]);
    const state = await before.startCommit();
    const after = await runnerFor('migrate-b', lambda, `[${m0}, ${m1}]`);
    // Opened from the committed database: migration 0 is not run again (its insert would fail on the key).
    await after.open(state);
    expect(await after.onSource('fromIn', [{ id: 0 }])).toEqual([
      {
        id: 0,
        rows: [
          { id: 4, value: 'hello' },
          { id: 5, value: 'hello' },
          { id: 6, value: 'new' },
        ],
      },
    ]);
  });
});

describe('SQLite publish time', () => {
  it('binds $flow_published_at (from /_meta/uuid, RFC 3339) and $_meta$uuid for every source', async () => {
    const runner = await runnerFor(
      'published',
      "'select $id, $flow_published_at as at, $_meta$uuid as uuid;'",
    );
    const uuid = metaUuid(Date.UTC(2026, 10, 29, 12, 30, 5, 250), 'test', 1);
    expect(await runner.onSource('fromIn', [{ id: 1, _meta: { uuid } }])).toEqual([
      { id: 1, at: '2026-11-29T12:30:05.250Z', uuid },
    ]);
  });
});

describe('SQLite lambda failures', () => {
  it('a statement failing on a document is the transform failing there, with the SQL error and statement', async () => {
    const runner = await runnerFor(
      'failing',
      '"insert into t (id, label) values ($id, $case) returning id;"',
      "['create table t (id integer primary key, label text not null);']",
    );
    await expect(runner.onSource('fromIn', [{ id: 1, case: 'a' }, { id: 2 }], 10)).rejects.toMatchObject({
      code: 'TransformThrew',
      transform: 'fromIn',
      sourceIndex: 11,
      message: expect.stringMatching(/NOT NULL constraint failed: t\.label[\s\S]*insert into t/),
    });
  });
});

describe('sluice check on SQLite derivations', () => {
  it('reports a parameter naming no location, with did-you-mean, at the lambda', async () => {
    const { catalog, diagnostics } = await catalogOf('badparam', derived("'select $idd;'"));
    expect(catalog).toBeUndefined();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'ParamNotFound',
        pointer: '/collections/acme~1out/derive/transforms/0/lambda',
        message: expect.stringContaining('parameter $idd not found: did you mean `$id`?'),
      }),
    ]);
  });

  it('reads migrations and lambdas from .sql files (no whitespace: a relative path) and reports bad SQL', async () => {
    const ok = await catalogOf('files', derived('lambda.sql', '[migration.sql]'), {
      'migration.sql': 'create table t (id integer primary key);\n',
      'lambda.sql': 'insert into t (id) values ($id) returning id;\n',
    });
    expect(ok.diagnostics).toEqual([]);
    expect(ok.catalog!.collections['acme/out'].derive!.transforms[0].lambda).toContain('returning id');
    expect(ok.catalog!.collections['acme/out'].derive!.stateful).toBe(true);
    const bad = await catalogOf('badsql', derived("'select * from nowhere;'"));
    expect(bad.diagnostics).toEqual([
      expect.objectContaining({
        code: 'SqlInvalid',
        pointer: '/collections/acme~1out/derive/transforms/0/lambda',
        message: expect.stringContaining('no such table: nowhere'),
      }),
    ]);
  });
  it('refuses a lambda or migration whose last statement has no closing `;`, as Estuary does', async () => {
    // crates/derive-sqlite dbutil.rs sql_block_to_statements: BlockTrailingContent, for lambdas and
    // migrations alike; `lambda: SELECT $id` without its `;` is a common slip in YAML.
    const lambda = await catalogOf('nosemi-lambda', derived("'select $id'"));
    expect(lambda.diagnostics).toEqual([
      expect.objectContaining({
        code: 'SqlInvalid',
        pointer: '/collections/acme~1out/derive/transforms/0/lambda',
        message: expect.stringContaining(`ends with "select $id", which no ';' closes`),
      }),
    ]);
    const migration = await catalogOf(
      'nosemi-migration',
      derived("'select $id;'", "['create table t (id integer primary key)']"),
    );
    expect(migration.diagnostics).toEqual([
      expect.objectContaining({
        code: 'SqlInvalid',
        pointer: '/collections/acme~1out/derive/using/sqlite/migrations/0',
        message: expect.stringContaining('migration 0: ends with "create table t (id integer primary key)"'),
      }),
    ]);
  });
});

describe('SQL blocks end each statement with `;` (dbutil.rs mapping_sql_blocks_to_statements)', () => {
  it('accepts what Estuary splits and names the tail it refuses', () => {
    // Estuary's own cases: `;` inside literals and comments ends nothing; a statement missing its `;`
    // in the middle is SQLite's to reject, only the tail is checked here.
    expect(
      unterminatedTail(`
      -- Some comments.
      select '&;' as $foo
      from bar
      where baz = $bing and baz != ';';
      -- Next comment;
      update foobar set value = 'a ; new value';
      select 1 from thingy_without_trailing_semicolon
      /* Trailing
      ;
      comment */
      select 2;
      `),
    ).toBeUndefined();
    expect(unterminatedTail('select 1;;\n;\nselect 2;  ;\n')).toBeUndefined();
    expect(unterminatedTail('')).toBeUndefined();
    expect(unterminatedTail('select 1; select 2')).toBe('select 2');
    expect(unterminatedTail("select 1; select ';'")).toBe("select ';'");
    expect(unterminatedTail('select 1; -- done;')).toBe('-- done;');
    expect(unterminatedTail('select 1; /* a ; b */')).toBe('/* a ; b */');
    expect(unterminatedTail('select "a;b" from [x;y]')).toBe('select "a;b" from [x;y]');
  });
});

describe('stateful derivations commit their state with their checkpoint', () => {
  const yaml = derived(
    '"insert into counts (id, n) values ($id, 1) on conflict do update set n = n + 1 returning id, n;"',
    "['create table counts (id integer primary key, n integer not null);']",
  );

  async function setup() {
    const { catalog, diagnostics } = await catalogOf('stateful', yaml);
    if (!catalog) throw new Error(JSON.stringify(diagnostics));
    const journal = new MemoryJournal({ shards: 1 });
    for (const c of Object.keys(catalog.collections)) journal.ensure(c);
    return { catalog, journal };
  }

  async function coldStart(catalog: BuiltCatalog, journal: MemoryJournal, state: MemoryStateStore) {
    const runner = await createDerivationRunner(catalog, new SchemaRegistry(catalog.schemas), 'acme/out');
    return new DeriveTask(catalog.collections['acme/out'], runner, journal, catalog, {
      derivationState: state,
    });
  }

  const outputs = (journal: MemoryJournal) =>
    decodeRecords('acme/out', journal.allRecords('acme/out')).docs.map((d) => d.doc as Json);

  it('restores SQLite tables on a cold start, skips a replayed batch, and writes only changed pages', async () => {
    const { catalog, journal } = await setup();
    const state = new MemoryStateStore();
    const ingest = (ids: number[]) =>
      journal.append(
        'acme/in',
        ids.map((id) => ({ hashKey: explicitHashKey(packKey([id])), doc: { id } })),
      );
    await ingest([1, 2]);
    const first = journal.allRecords('acme/in');
    const a = await coldStart(catalog, journal, state);
    await a.onBatch(decodeRecords('acme/in', first));
    const pagesAfterFirst = a.stats.pagesWritten;
    expect(pagesAfterFirst).toBeGreaterThan(1);

    // A new process (cold start) restores the database from the committed pages.
    const b = await coldStart(catalog, journal, state);
    // The mapping replays the committed batch (crash after the commit, before its checkpoint): skipped.
    await b.onBatch(decodeRecords('acme/in', first));
    expect(b.stats.docsSkipped).toBe(2);
    await ingest([1]);
    await b.onBatch(decodeRecords('acme/in', journal.allRecords('acme/in').slice(first.length)));
    expect(
      outputs(journal).map((d) => ({ id: (d as { id: number }).id, n: (d as { n: number }).n })),
    ).toEqual([
      { id: 1, n: 1 },
      { id: 2, n: 1 },
      { id: 1, n: 2 },
    ]);
    // Updating one row rewrote a few pages (the header and the table's leaf), not the whole database.
    expect(b.stats.pagesWritten).toBeGreaterThan(0);
    expect(b.stats.pagesWritten).toBeLessThan(pagesAfterFirst);
    expect((await state.loadDerivationState('derivation:acme/out'))!.version).toBe(2);
  });

  it('re-derives from the committed state when the commit did not happen (crash before the manifest write)', async () => {
    const { catalog, journal } = await setup();
    const state = new MemoryStateStore();
    await journal.append('acme/in', [{ hashKey: explicitHashKey(packKey([7])), doc: { id: 7 } }]);
    const records = journal.allRecords('acme/in');
    const a = await coldStart(catalog, journal, state);
    const commit = state.commitDerivationState.bind(state);
    state.commitDerivationState = async () => {
      throw new Error('crash before the manifest write');
    };
    await expect(a.onBatch(decodeRecords('acme/in', records))).rejects.toThrow('crash');
    state.commitDerivationState = commit;
    // The retry runs from the committed (empty) state: n is 1 again, the same document as published before.
    await a.onBatch(decodeRecords('acme/in', records));
    expect(outputs(journal).map((d) => (d as { n: number }).n)).toEqual([1, 1]);
  });
});

describe('TypeScript derivation state', () => {
  it('applies startCommit updates (merge patch or replacement) and constructs Derivation({state}) with them', async () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { a: null, b: { c: 5 }, e: [1] })).toEqual({
      b: { c: 5, d: 3 },
      e: [1],
    });
    const module = `
      export class Derivation {
        constructor(open) { this.total = open.state.total ?? 0; }
        fromIn(read) { this.total += read.doc.id; return [{ id: read.doc.id, total: this.total }]; }
        startCommit() { return { state: { updated: { total: this.total }, mergePatch: true } }; }
      }`;
    const { catalog, diagnostics } = await catalogOf(
      'ts-state',
      `${SOURCE}
  acme/out:
    schema: { type: object, properties: { id: { type: integer } }, required: [id] }
    key: [/id]
    derive:
      using: { typescript: { module: mod.ts } }
      transforms: [{ name: fromIn, source: acme/in, shuffle: any }]
`,
      { 'mod.ts': module },
    );
    if (!catalog) throw new Error(JSON.stringify(diagnostics));
    expect(catalog.collections['acme/out'].derive!.stateful).toBe(true);
    const journal = new MemoryJournal({ shards: 1 });
    for (const c of Object.keys(catalog.collections)) journal.ensure(c);
    const state = new MemoryStateStore();
    const start = async () =>
      new DeriveTask(
        catalog.collections['acme/out'],
        await createDerivationRunner(catalog, new SchemaRegistry(catalog.schemas), 'acme/out'),
        journal,
        catalog,
        { derivationState: state },
      );
    await journal.append('acme/in', [{ hashKey: explicitHashKey(packKey([5])), doc: { id: 5 } }]);
    await (await start()).onBatch(decodeRecords('acme/in', journal.allRecords('acme/in')));
    expect((await state.loadDerivationState('derivation:acme/out'))!.json).toEqual({ total: 5 });
    const n = journal.allRecords('acme/in').length;
    await journal.append('acme/in', [{ hashKey: explicitHashKey(packKey([3])), doc: { id: 3 } }]);
    // A cold start: the new instance is constructed with the committed state.
    await (await start()).onBatch(decodeRecords('acme/in', journal.allRecords('acme/in').slice(n)));
    expect(
      decodeRecords('acme/out', journal.allRecords('acme/out')).docs.map(
        (d) => (d.doc as { total: number }).total,
      ),
    ).toEqual([5, 8]);
  });
});
