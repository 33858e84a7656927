// Catalog validation against Estuary's crates/validation: each case mutates one valid catalog into one
// that Estuary rejects, and asserts Sluice's diagnostic (code, file:line, JSON pointer, the words that
// say what was found and what is allowed); the valid variants beside them must still load. The Estuary
// file each rule comes from is named on its case.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Diagnostic } from '../../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';

// biome-ignore lint/suspicious/noExplicitAny: each case reaches into the catalog where it likes
type Catalog = Record<string, any>;

/** The valid catalog every case starts from: a captured collection, a SQLite derivation, a materialization, a test. */
function base(): Catalog {
  return {
    collections: {
      'acmeCo/orders': {
        schema: {
          type: 'object',
          properties: {
            id: { type: 'integer' },
            customer: { type: 'string' },
            amount: { type: 'number' },
            flag: { type: 'boolean' },
            tags: { type: 'array', items: { type: 'string' } },
            meta: { type: 'object', properties: { region: { type: 'string' } }, required: ['region'] },
          },
          required: ['id', 'customer', 'meta'],
        },
        key: ['/id'],
        projections: { region: { location: '/meta/region', partition: true } },
      },
      'acmeCo/totals': {
        schema: {
          type: 'object',
          reduce: { strategy: 'merge' },
          properties: {
            customer: { type: 'string' },
            total: { type: 'number', reduce: { strategy: 'sum' } },
          },
          required: ['customer'],
        },
        key: ['/customer'],
        derive: {
          using: { sqlite: {} },
          transforms: [
            {
              name: 'fromOrders',
              source: 'acmeCo/orders',
              shuffle: { key: ['/customer'] },
              lambda: 'SELECT $customer AS customer, $amount AS total;',
            },
          ],
        },
      },
    },
    captures: {
      'acmeCo/ingest': {
        endpoint: { connector: { image: 'source-http-ingest', config: {} } },
        bindings: [{ target: 'acmeCo/orders', resource: { path: '/orders' } }],
      },
    },
    materializations: {
      'acmeCo/to-dynamo': {
        endpoint: { connector: { image: 'materialize-dynamodb', config: { region: 'us-east-1' } } },
        bindings: [{ source: 'acmeCo/totals', resource: { table: 'totals' } }],
      },
    },
    tests: {
      'acmeCo/test-totals': [
        {
          ingest: {
            collection: 'acmeCo/orders',
            documents: [{ id: 1, customer: 'a', amount: 2, meta: { region: 'EU' } }],
          },
        },
        { verify: { collection: 'acmeCo/totals', documents: [{ customer: 'a', total: 2 }] } },
      ],
    },
  };
}

const orders = (c: Catalog) => c.collections['acmeCo/orders'];
const totals = (c: Catalog) => c.collections['acmeCo/totals'];
const transforms = (c: Catalog): Catalog[] => totals(c).derive.transforms;
const bindings = (c: Catalog): Catalog[] => c.materializations['acmeCo/to-dynamo'].bindings;
const steps = (c: Catalog): Catalog[] => c.tests['acmeCo/test-totals'];

interface Expected {
  code: Diagnostic['code'];
  pointer: string;
  /** Words the message must contain: what was found, what is allowed. */
  says: string[];
  hint?: string;
  /** Text on the line the diagnostic points at (default: the pointer's last token). */
  line?: string;
  /** The file the diagnostic is in, when not flow.yaml. */
  file?: string;
}

interface Case {
  name: string;
  /** The Estuary file and error this follows. */
  estuary: string;
  mutate: (c: Catalog) => void;
  /** Other files of the catalog's folder, by name. */
  files?: Record<string, string>;
  /** The errors, in reading order; empty for a variant that must stay valid. */
  errors: Expected[];
}

const root = mkdtempSync(join(tmpdir(), 'sluice-validation-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
async function check(
  mutate: (c: Catalog) => void,
  files: Record<string, string> = {},
): Promise<{ text: string; diagnostics: Diagnostic[] }> {
  const c = base();
  mutate(c);
  const dir = join(root, String(n++));
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const text = stringify(c);
  writeFileSync(join(dir, 'flow.yaml'), text);
  const { diagnostics } = await loadCatalog(join(dir, 'flow.yaml'));
  return { text, diagnostics: diagnostics.filter((d) => d.severity === 'error') };
}

/**
 * The line a diagnostic points at must be where its pointer is written: it names the pointer's last
 * token (`key:` for `.../shuffle/key`), or, for an array item, holds `- ` and the text given.
 */
function expectLine(text: string, d: Diagnostic, e: Expected): void {
  const line = text.split('\n')[d.line - 1] ?? '';
  const last = d.pointer.split('/').at(-1)!.replaceAll('~1', '/').replaceAll('~0', '~');
  if (e.line !== undefined) expect(line).toContain(e.line);
  else if (!/^\d+$/.test(last)) expect(line).toContain(last);
}

function run(cases: Case[]): void {
  for (const c of cases) {
    it(`${c.name} (${c.estuary})`, async () => {
      const { text, diagnostics } = await check(c.mutate, c.files);
      expect(diagnostics.map((d) => `${d.code} ${d.pointer}`)).toEqual(
        c.errors.map((e) => `${e.code} ${e.pointer}`),
      );
      c.errors.forEach((e, i) => {
        const d = diagnostics[i];
        for (const word of e.says) expect(d.message).toContain(word);
        if (e.hint) expect(d.hint).toContain(e.hint);
        if (e.file) expect(d.file.endsWith(e.file)).toBe(true);
        else {
          expect(d.file.endsWith('flow.yaml')).toBe(true);
          expectLine(text, d, e);
        }
      });
    });
  }
}

describe('the base catalog', () => {
  it('is valid', async () => {
    expect((await check(() => {})).diagnostics).toEqual([]);
  });
});

describe('shuffle keys (crates/validation/src/derivation.rs walk_derive_transform, walk_derivation; schema.rs walk_ptr)', () => {
  run([
    {
      name: 'an empty shuffle key',
      estuary: 'ShuffleKeyEmpty',
      mutate: (c) => {
        transforms(c)[0].shuffle = { key: [] };
      },
      errors: [
        {
          code: 'ShuffleKeyEmpty',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key',
          says: ['`fromOrders`', 'empty key', 'shuffle: any'],
        },
      ],
    },
    {
      name: 'a shuffle key the source schema does not declare',
      estuary: 'PtrIsImplicit',
      mutate: (c) => {
        transforms(c)[0].shuffle = { key: ['/custome'] };
      },
      errors: [
        {
          code: 'ShuffleKeyNotFound',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key/0',
          says: ['`/custome`', 'not declared', '`acmeCo/orders`'],
          hint: 'did you mean `customer`?',
        },
      ],
    },
    {
      name: 'a shuffle key that cannot exist',
      estuary: 'PtrCannotExist',
      mutate: (c) => {
        orders(c).schema.additionalProperties = false;
        transforms(c)[0].shuffle = { key: ['/nope'] };
      },
      errors: [
        {
          code: 'ShuffleKeyNotFound',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key/0',
          says: ['`/nope`', 'cannot exist', '`acmeCo/orders`'],
        },
      ],
    },
    {
      name: 'a shuffle key of an array',
      estuary: 'KeyWrongType',
      mutate: (c) => {
        transforms(c)[0].shuffle = { key: ['/tags'] };
      },
      errors: [
        {
          code: 'ShuffleKeyWrongType',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key/0',
          says: ['`/tags`', 'may be array', 'string, integer, number or boolean'],
        },
      ],
    },
    {
      name: 'a shuffle key of two types',
      estuary: 'KeyWrongType',
      mutate: (c) => {
        orders(c).schema.properties.customer = { type: ['string', 'integer'] };
      },
      errors: [
        {
          code: 'ShuffleKeyWrongType',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key/0',
          says: ['`/customer`', 'may be integer, string', 'of one type'],
        },
      ],
    },
    {
      name: 'a reduced shuffle key',
      estuary: 'KeyHasReduction',
      mutate: (c) => {
        orders(c).schema.properties.amount.reduce = { strategy: 'sum' };
        transforms(c)[0].shuffle = { key: ['/amount'] };
      },
      errors: [
        {
          code: 'KeyHasReduce',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key/0',
          says: ['`/amount`', '`sum`', 'cannot be reduced'],
        },
      ],
    },
    {
      name: 'transforms shuffling on keys of different types',
      estuary: 'ShuffleKeyImplicitMismatch',
      mutate: (c) => {
        transforms(c).push({ ...structuredClone(transforms(c)[0]), name: 'byId', shuffle: { key: ['/id'] } });
      },
      errors: [
        {
          code: 'ShuffleKeyMismatch',
          pointer: '/collections/acmeCo~1totals/derive/transforms/1/shuffle/key',
          says: ['`byId`', '[integer]', '`fromOrders`', '[string]', 'same number and types'],
          line: '- /id',
        },
      ],
    },
    {
      name: 'transforms shuffling on keys of different lengths',
      estuary: 'ShuffleKeyImplicitMismatch',
      mutate: (c) => {
        const t = structuredClone(transforms(c)[0]);
        transforms(c).push({ ...t, name: 'byTwo', shuffle: { key: ['/customer', '/meta/region'] } });
      },
      errors: [
        {
          code: 'ShuffleKeyMismatch',
          pointer: '/collections/acmeCo~1totals/derive/transforms/1/shuffle/key',
          says: ['[string, string]', '[string]'],
          line: '- /customer',
        },
      ],
    },
    {
      name: 'valid: shuffle keys of the same types, a nested one, and `any` beside them',
      estuary: 'ok',
      mutate: (c) => {
        const t = structuredClone(transforms(c)[0]);
        transforms(c).push({ ...t, name: 'byRegion', shuffle: { key: ['/meta/region'] } });
        transforms(c).push({ ...t, name: 'anyShard', shuffle: 'any' });
      },
      errors: [],
    },
    {
      name: 'valid: a shuffle key of numbers, or of a nullable string',
      estuary: 'ok (is_keyable_type)',
      mutate: (c) => {
        orders(c).schema.properties.customer = { type: ['string', 'null'] };
        transforms(c).push({
          ...structuredClone(transforms(c)[0]),
          name: 'byAmount',
          shuffle: { key: ['/amount'] },
        });
        transforms(c)[0].shuffle = 'any';
      },
      errors: [],
    },
  ]);
});

describe('partition selectors and read windows (crates/validation/src/collection.rs walk_selector; derivation.rs, materialization.rs NotBeforeAfterOrder; test_step.rs)', () => {
  const transformSource = '/collections/acmeCo~1totals/derive/transforms/0/source';
  run([
    {
      name: 'a selector naming a projection that is not a partition',
      estuary: 'ProjectionNotPartitioned',
      mutate: (c) => {
        orders(c).projections.who = '/customer';
        transforms(c)[0].source = { name: 'acmeCo/orders', partitions: { include: { who: ['a'] } } };
      },
      errors: [
        {
          code: 'NotPartition',
          pointer: `${transformSource}/partitions/include/who`,
          says: ['`who` is not a logical partition of `acmeCo/orders`', 'its partitions: `region`'],
        },
      ],
    },
    {
      name: 'a selector naming no projection',
      estuary: 'NoSuchProjection',
      mutate: (c) => {
        bindings(c)[0].source = { name: 'acmeCo/orders', partitions: { exclude: { regoin: ['EU'] } } };
      },
      errors: [
        {
          code: 'NotPartition',
          pointer: '/materializations/acmeCo~1to-dynamo/bindings/0/source/partitions/exclude/regoin',
          says: ['`regoin` is not a logical partition'],
          hint: 'did you mean `region`?',
        },
      ],
    },
    {
      name: 'a selector value of the wrong type',
      estuary: 'SelectorTypeMismatch',
      mutate: (c) => {
        transforms(c)[0].source = { name: 'acmeCo/orders', partitions: { include: { region: ['EU', 42] } } };
      },
      errors: [
        {
          code: 'InvalidValue',
          pointer: `${transformSource}/partitions/include/region/1`,
          says: ['partition `region` of `acmeCo/orders` is string', 'gives integer 42'],
          line: '- 42',
        },
      ],
    },
    {
      name: 'an empty string selector value',
      estuary: 'SelectorEmptyString',
      mutate: (c) => {
        steps(c)[1].verify.collection = { name: 'acmeCo/orders', partitions: { exclude: { region: [''] } } };
        steps(c)[1].verify.documents = [];
      },
      errors: [
        {
          code: 'InvalidValue',
          pointer: '/tests/acmeCo~1test-totals/1/verify/collection/partitions/exclude/region/0',
          says: ['`region` value 0 is an empty string', 'non-empty'],
          line: '- ""',
        },
      ],
    },
    {
      name: 'a transform reading from notBefore to an earlier notAfter',
      estuary: 'NotBeforeAfterOrder',
      mutate: (c) => {
        transforms(c)[0].source = {
          name: 'acmeCo/orders',
          notBefore: '2024-02-01T00:00:00Z',
          notAfter: '2024-01-01T00:00:00Z',
        };
      },
      errors: [
        {
          code: 'InvalidValue',
          pointer: `${transformSource}/notAfter`,
          says: ['`notAfter` (2024-01-01T00:00:00Z) is before `notBefore` (2024-02-01T00:00:00Z)'],
        },
      ],
    },
    {
      name: 'a materialization binding reading from notBefore to an earlier notAfter',
      estuary: 'NotBeforeAfterOrder',
      mutate: (c) => {
        bindings(c)[0].source = {
          name: 'acmeCo/totals',
          notBefore: '2024-02-01T00:00:00Z',
          notAfter: '2024-01-31T00:00:00Z',
        };
      },
      errors: [
        {
          code: 'InvalidValue',
          pointer: '/materializations/acmeCo~1to-dynamo/bindings/0/source/notAfter',
          says: ['is before `notBefore`'],
        },
      ],
    },
    {
      name: 'a test step with notBefore',
      estuary: 'TestStepNotBeforeAfter',
      mutate: (c) => {
        steps(c)[1].verify.collection = { name: 'acmeCo/totals', notBefore: '2024-01-01T00:00:00Z' };
      },
      errors: [
        {
          code: 'UnknownProperty',
          pointer: '/tests/acmeCo~1test-totals/1/verify/collection/notBefore',
          says: ['`notBefore` is not allowed in tests'],
        },
      ],
    },
    {
      name: 'valid: selectors of partition values, and a read window in order',
      estuary: 'ok',
      mutate: (c) => {
        transforms(c)[0].source = {
          name: 'acmeCo/orders',
          partitions: { include: { region: ['EU', 'US'] }, exclude: { region: ['APAC'] } },
          notBefore: '2024-01-01T00:00:00Z',
          notAfter: '2024-02-01T00:00:00Z',
        };
        steps(c)[1].verify.collection = { name: 'acmeCo/totals' };
      },
      errors: [],
    },
  ]);
});

describe('names (crates/validation/src/lib.rs and indexed.rs walk_name, walk_duplicates; crates/models references.rs)', () => {
  run([
    {
      name: 'a collection name with a space',
      estuary: 'NameRegex',
      mutate: (c) => {
        c.collections['acmeCo/old orders'] = structuredClone(orders(c));
      },
      errors: [
        {
          code: 'InvalidName',
          pointer: '/collections/acmeCo~1old orders',
          says: [
            '`acmeCo/old orders` is not a valid name',
            'letters, numbers, `-`, `_`, `.`, separated by `/`',
          ],
        },
      ],
    },
    {
      name: 'a transform name with a slash',
      estuary: 'NameRegex (Transform: TOKEN_RE)',
      mutate: (c) => {
        transforms(c)[0].name = 'from/orders';
      },
      errors: [
        {
          code: 'InvalidName',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/name',
          says: ['`"from/orders"` is not a valid transform name', 'no `/` or spaces'],
        },
      ],
    },
    {
      name: 'a capture named as a collection',
      estuary: 'NameCollision "collides with"',
      mutate: (c) => {
        c.captures['acmeCo/orders'] = c.captures['acmeCo/ingest'];
        delete c.captures['acmeCo/ingest'];
      },
      errors: [
        {
          code: 'DuplicateName',
          pointer: '/captures/acmeCo~1orders',
          says: ['capture `acmeCo/orders` is already defined as a collection at', 'flow.yaml:2:3'],
        },
      ],
    },
    {
      name: 'collection names that differ only in case',
      estuary: 'NameCollision "collides with" (collate.rs)',
      mutate: (c) => {
        c.collections['acmeCo/Orders'] = structuredClone(orders(c));
      },
      errors: [
        {
          code: 'NameCollision',
          pointer: '/collections/acmeCo~1Orders',
          says: [
            'collection `acmeCo/Orders` collides with collection `acmeCo/orders`',
            'differ only in case',
          ],
        },
      ],
    },
    {
      name: 'a materialization named below a collection',
      estuary: 'NameCollision "is a prohibited prefix of"',
      mutate: (c) => {
        c.materializations['acmeCo/totals/to-dynamo'] = c.materializations['acmeCo/to-dynamo'];
        delete c.materializations['acmeCo/to-dynamo'];
      },
      errors: [
        {
          code: 'NameCollision',
          pointer: '/materializations/acmeCo~1totals~1to-dynamo',
          says: ['materialization `acmeCo/totals/to-dynamo` and collection `acmeCo/totals`', '`/`-prefix'],
        },
      ],
    },
    {
      name: 'valid: names sharing a prefix that is not a path component',
      estuary: 'ok',
      mutate: (c) => {
        c.collections['acmeCo/orders-archive'] = structuredClone(orders(c));
        c.collections['acmeCo/ordersX'] = structuredClone(orders(c));
      },
      errors: [],
    },
  ]);
});

describe('projections (crates/validation/src/collection.rs walk_collection_projections; schema.rs walk_ptr)', () => {
  const projection = (field: string) => `/collections/acmeCo~1orders/projections/${field}`;
  run([
    {
      name: 'a projection of a location the schema does not declare',
      estuary: 'PtrIsImplicit',
      mutate: (c) => {
        orders(c).projections.amt = '/amout';
      },
      errors: [
        {
          code: 'ProjectionNotFound',
          pointer: projection('amt'),
          says: ['`/amout` is not declared by the schema'],
          hint: 'did you mean `amount`?',
        },
      ],
    },
    {
      name: 'a projection of a location that cannot exist',
      estuary: 'PtrCannotExist',
      mutate: (c) => {
        orders(c).schema.properties.meta.additionalProperties = false;
        orders(c).projections.country = '/meta/country';
      },
      errors: [
        {
          code: 'ProjectionNotFound',
          pointer: projection('country'),
          says: ['`/meta/country` cannot exist'],
        },
      ],
    },
    {
      name: 'a projection re-mapping a canonical field',
      estuary: 'ProjectionRemapsCanonicalField',
      mutate: (c) => {
        orders(c).projections.customer = '/meta/region';
      },
      errors: [
        {
          code: 'ProjectionRemapsCanonicalField',
          pointer: projection('customer'),
          says: [
            '`customer` is the canonical field of location `/customer`',
            'cannot be re-mapped to `/meta/region`',
          ],
        },
      ],
    },
    {
      name: 'a projection re-mapping flow_document',
      estuary: 'ProjectionRemapsCanonicalField',
      mutate: (c) => {
        orders(c).projections.flow_document = '/meta';
      },
      errors: [
        {
          code: 'ProjectionRemapsCanonicalField',
          pointer: projection('flow_document'),
          says: ['`flow_document` is the canonical field of location ``'],
        },
      ],
    },
    {
      name: 'projection fields that differ only in case',
      estuary: 'NameCollision (walk_duplicates of projections)',
      mutate: (c) => {
        orders(c).projections.Who = '/customer';
        orders(c).projections.who = '/customer';
      },
      errors: [
        {
          code: 'NameCollision',
          pointer: projection('who'),
          says: ['projection `who` collides with projection `Who`'],
        },
      ],
    },
    {
      name: 'a reduced logical partition',
      estuary: 'KeyHasReduction (walk_collection_projections: walk_ptr of a partition)',
      mutate: (c) => {
        orders(c).schema.reduce = { strategy: 'merge' };
        orders(c).schema.properties.meta.reduce = { strategy: 'merge' };
        orders(c).schema.properties.meta.properties.region.reduce = { strategy: 'maximize' };
      },
      errors: [
        {
          code: 'PartitionHasReduce',
          pointer: projection('region'),
          says: ['logical partition `/meta/region`', '`maximize` reduce annotation', 'only `lastWriteWins`'],
        },
      ],
    },
    {
      name: 'valid: a key and a logical partition annotated `lastWriteWins`',
      estuary: 'ok (walk_ptr allows Unset | LastWriteWins)',
      mutate: (c) => {
        orders(c).schema.properties.id.reduce = { strategy: 'lastWriteWins' };
        orders(c).schema.properties.meta.properties.region.reduce = { strategy: 'lastWriteWins' };
      },
      errors: [],
    },
    {
      name: 'a partition field with a slash',
      estuary: 'NameRegex (PartitionField)',
      mutate: (c) => {
        orders(c).projections['by/region'] = { location: '/meta/region', partition: true };
      },
      errors: [
        {
          code: 'InvalidName',
          pointer: projection('by~1region'),
          says: ['`by/region` cannot name a logical partition', 'letters, numbers, `-`, `_` and `.` only'],
        },
      ],
    },
    {
      name: 'a projection field with a leading slash',
      estuary: 'Field pattern (FIELD_RE)',
      mutate: (c) => {
        orders(c).projections['/who'] = '/customer';
      },
      errors: [
        {
          code: 'InvalidName',
          pointer: projection('~1who'),
          says: ['`/who` is not a valid projection field', 'may not begin or end with `/`'],
          line: '/who',
        },
      ],
    },
    {
      name: 'valid: projections of declared locations, their own canonical fields, and flow_published_at',
      estuary: 'ok',
      mutate: (c) => {
        orders(c).schema.properties.anything = {};
        orders(c).projections.any = '/anything';
        orders(c).projections['meta/region'] = '/meta/region';
        orders(c).projections.id = '/id';
        orders(c).projections['Customer Name'] = '/customer';
        orders(c).projections.flow_published_at = '/_meta/uuid/date-time';
        orders(c).projections.op = '/_meta/op';
      },
      errors: [],
    },
  ]);
});

describe('materialization fields (crates/validation/src/materialization.rs walk_materialization_fields)', () => {
  const fields = '/materializations/acmeCo~1to-dynamo/bindings/0/fields';
  run([
    {
      name: 'excluding a field the collection does not have',
      estuary: 'NoSuchProjection (exclude)',
      mutate: (c) => {
        bindings(c)[0].fields = { recommended: true, exclude: ['totl'] };
      },
      errors: [
        {
          code: 'FieldNotFound',
          pointer: `${fields}/exclude/0`,
          says: ['excluded field `totl` is not a projection of `acmeCo/totals`', '`customer`, `total`'],
          hint: 'did you mean `total`?',
          line: '- totl',
        },
      ],
    },
    {
      name: 'excluding a key field, canonical or projected',
      estuary:
        'field_selection: the connector requires the key ("selector excludes field, but connector requires it")',
      mutate: (c) => {
        c.collections['acmeCo/totals'].projections = { who: '/customer' };
        bindings(c)[0].fields = { recommended: true, exclude: ['customer', 'who'] };
      },
      errors: [
        {
          code: 'FieldUnsatisfiable',
          pointer: `${fields}/exclude/0`,
          says: [
            'excluded field `customer` is a key of `acmeCo/totals` (/customer)',
            'remove it from `exclude`',
          ],
          line: '- customer',
        },
        {
          code: 'FieldUnsatisfiable',
          pointer: `${fields}/exclude/1`,
          says: ['excluded field `who` is a key'],
          line: '- who',
        },
      ],
    },
    {
      name: 'requiring a field the collection does not have',
      estuary: 'NoSuchProjection (required)',
      mutate: (c) => {
        bindings(c)[0].fields = { recommended: true, require: { totals: {} } };
      },
      errors: [
        {
          code: 'FieldNotFound',
          pointer: `${fields}/require/totals`,
          says: ['required field `totals` is not a projection of `acmeCo/totals`'],
          hint: 'did you mean `total`?',
        },
      ],
    },
    {
      name: 'a field both included and excluded',
      estuary: 'FieldUnsatisfiable',
      mutate: (c) => {
        bindings(c)[0].fields = { recommended: true, include: { total: {} }, exclude: ['total'] };
      },
      errors: [
        {
          code: 'FieldUnsatisfiable',
          pointer: `${fields}/exclude/0`,
          says: ['`total` is both required and excluded'],
          line: '- total',
        },
      ],
    },
    {
      name: 'valid: fields of a recursive schema, which is listed breadth first and only so deep',
      estuary: 'ok',
      mutate: (c) => {
        const node = { $ref: '#/$defs/node' };
        orders(c).schema.$defs = {
          node: { type: 'object', properties: { a: node, b: node, c: node, v: { type: 'string' } } },
        };
        orders(c).schema.properties.tree = node;
        orders(c).projections.leaf = '/tree/a/b/v';
        bindings(c).push({
          source: 'acmeCo/orders',
          resource: { table: 'orders' },
          fields: { recommended: true, exclude: ['tree/a/a/a/v', 'tree/c/c/c/c/c/c/c/c/c/c/v', 'leaf'] },
        });
      },
      errors: [],
    },
    {
      name: 'valid: excluding nested canonical fields, explicit projections and flow_published_at',
      estuary: 'ok',
      mutate: (c) => {
        bindings(c).push({
          source: 'acmeCo/orders',
          resource: { table: 'orders' },
          fields: {
            recommended: true,
            exclude: ['meta/region', 'region', 'flow_published_at'],
            require: { id: {} },
          },
        });
      },
      errors: [],
    },
  ]);
});

describe('bindings and transforms (crates/validation/src/capture.rs, materialization.rs BindingDuplicatesResource; derivation.rs walk_duplicates)', () => {
  run([
    {
      name: 'two materialization bindings into one table',
      estuary: 'BindingDuplicatesResource',
      mutate: (c) => {
        bindings(c).push({ source: 'acmeCo/orders', resource: { table: 'totals' } });
      },
      errors: [
        {
          code: 'DuplicateResource',
          pointer: '/materializations/acmeCo~1to-dynamo/bindings/1/resource',
          says: [
            'binding 1 of materialization `acmeCo/to-dynamo`',
            'same materialize-dynamodb resource (`totals`) as binding 0',
          ],
          line: 'table: totals',
        },
      ],
    },
    {
      name: 'two capture bindings on one URL path',
      estuary: 'BindingDuplicatesResource',
      mutate: (c) => {
        c.collections['acmeCo/returns'] = structuredClone(orders(c));
        c.captures['acmeCo/ingest'].bindings.push({
          target: 'acmeCo/returns',
          resource: { path: '/orders' },
        });
      },
      errors: [
        {
          code: 'DuplicateResource',
          pointer: '/captures/acmeCo~1ingest/bindings/1/resource',
          says: ['same source-http-ingest resource (`/orders`) as binding 0'],
          line: 'path: /orders',
        },
      ],
    },
    {
      name: 'a URL path written without its leading slash is the same path',
      estuary: 'BindingDuplicatesResource',
      mutate: (c) => {
        c.collections['acmeCo/returns'] = structuredClone(orders(c));
        c.captures['acmeCo/ingest'].bindings.push({ target: 'acmeCo/returns', resource: { path: 'orders' } });
      },
      errors: [
        {
          code: 'DuplicateResource',
          pointer: '/captures/acmeCo~1ingest/bindings/1/resource',
          says: ['same source-http-ingest resource (`/orders`) as binding 0'],
          line: 'path: orders',
        },
      ],
    },
    {
      // Both served at the default /webhook-data: the second binding's documents went to the first's
      // collection.
      name: 'two capture bindings without a path',
      estuary: 'BindingDuplicatesResource',
      mutate: (c) => {
        c.collections['acmeCo/returns'] = structuredClone(orders(c));
        c.captures['acmeCo/ingest'].bindings[0].resource = {};
        c.captures['acmeCo/ingest'].bindings.push({ target: 'acmeCo/returns', resource: {} });
      },
      errors: [
        {
          code: 'DuplicateResource',
          pointer: '/captures/acmeCo~1ingest/bindings/1/resource',
          says: ['same source-http-ingest resource (`/webhook-data`) as binding 0'],
        },
      ],
    },
    {
      name: 'transform names that differ only in case',
      estuary: 'NameCollision (walk_duplicates of transforms)',
      mutate: (c) => {
        transforms(c).push({ ...structuredClone(transforms(c)[0]), name: 'FromOrders' });
      },
      errors: [
        {
          code: 'NameCollision',
          pointer: '/collections/acmeCo~1totals/derive/transforms/1/name',
          says: ['transform `FromOrders` collides with transform `fromOrders`'],
        },
      ],
    },
    {
      name: 'valid: a disabled binding may share a table; bindings into different tables',
      estuary: 'ok',
      mutate: (c) => {
        bindings(c).push({ source: 'acmeCo/orders', resource: { table: 'totals' }, disable: true });
        bindings(c).push({ source: 'acmeCo/orders', resource: { table: 'orders' } });
      },
      errors: [],
    },
  ]);
});

describe('collection keys and schemas (crates/validation/src/collection.rs walk_collection; schema.rs walk_ptr)', () => {
  const key0 = '/collections/acmeCo~1orders/key/0';
  run([
    {
      name: 'a key on a tuple item that minItems makes present',
      estuary: 'valid: crates/doc shape/location.rs locate_token, an item within minItems must exist',
      mutate: (c) => {
        const o = orders(c);
        o.schema.properties.pair = {
          type: 'array',
          minItems: 2,
          items: [{ type: 'string' }, { type: 'integer' }],
        };
        o.schema.required.push('pair');
        o.key = ['/pair/0', '/pair/1'];
        steps(c)[0].ingest.documents[0].pair = ['a', 1];
      },
      errors: [],
    },
    {
      name: 'a key on a tuple item beyond minItems',
      estuary: 'KeyMayNotExist (walk_keyed_location)',
      mutate: (c) => {
        const o = orders(c);
        o.schema.properties.pair = {
          type: 'array',
          minItems: 1,
          prefixItems: [{ type: 'string' }, { type: 'integer' }],
        };
        o.schema.required.push('pair');
        o.key = ['/pair/1'];
        steps(c)[0].ingest.documents[0].pair = ['a', 1];
      },
      errors: [
        {
          code: 'KeyNotRequired',
          pointer: key0,
          says: ['`/pair/1` is not required'],
          hint: 'set `minItems: 2` at /pair',
          line: '- /pair/1',
        },
      ],
    },
    {
      name: 'a key of two types',
      estuary: 'KeyWrongType (is_keyable_type)',
      mutate: (c) => {
        orders(c).schema.properties.id = { type: ['integer', 'string'] };
      },
      errors: [
        {
          code: 'KeyWrongType',
          pointer: key0,
          says: ['`/id` may be integer or string', 'of one type: string, integer or boolean'],
          line: '- /id',
        },
      ],
    },
    {
      name: 'a key of other types in the read schema than in the write schema',
      estuary: 'KeyReadWriteTypesDiffer',
      mutate: (c) => {
        const o = orders(c);
        o.writeSchema = o.schema;
        o.readSchema = structuredClone(o.schema);
        o.readSchema.properties.id = { type: 'string' };
        delete o.schema;
      },
      errors: [
        {
          code: 'KeyWrongType',
          pointer: key0,
          says: [
            '`/id` is integer in the write schema but string in the read schema',
            'only in allowing null',
          ],
          line: '- /id',
        },
      ],
    },
    {
      name: 'a schema that also allows arrays: one error, not one per key',
      estuary: 'CollectionSchemaNotObject',
      mutate: (c) => {
        orders(c).schema.type = ['object', 'array'];
      },
      errors: [
        {
          code: 'SchemaNotObject',
          pointer: '/collections/acmeCo~1orders/schema',
          says: ['must only allow objects', 'it also allows array'],
          line: 'type:',
        },
      ],
    },
    {
      name: 'valid: read and write schemas agreeing on the key',
      estuary: 'ok',
      mutate: (c) => {
        const o = orders(c);
        o.writeSchema = o.schema;
        o.readSchema = structuredClone(o.schema);
        o.readSchema.properties.extra = { type: 'string' };
        delete o.schema;
      },
      errors: [],
    },
  ]);
});

// Rules Sluice had before this suite: kept here so that each stays tied to its Estuary counterpart.
describe('references, structure, schemas and tests (crates/validation reference.rs, collection.rs, test_step.rs; crates/models deny_unknown_fields)', () => {
  run([
    {
      name: 'an unknown property of a collection',
      estuary: 'deny_unknown_fields',
      mutate: (c) => {
        orders(c).kye = ['/id'];
      },
      errors: [
        {
          code: 'UnknownProperty',
          pointer: '/collections/acmeCo~1orders/kye',
          says: ['a collection has no property `kye`', 'allowed: `schema`'],
          hint: 'did you mean `key`?',
        },
      ],
    },
    {
      name: "a verify step's partition selector beside its collection, as Estuary's tests page writes it",
      estuary: 'deny_unknown_fields (crates/models tests.rs TestStepVerify: the selector is in `collection`)',
      mutate: (c) => {
        steps(c)[1].verify.partitions = { include: { region: ['EU'] } };
      },
      errors: [
        {
          code: 'UnknownProperty',
          pointer: '/tests/acmeCo~1test-totals/1/verify/partitions',
          says: [
            'a verify step has no property `partitions`',
            'allowed: `description`, `collection`, `documents`',
          ],
          hint: 'a partition selector goes in the collection: `collection: {name: acmeCo/x, partitions:',
        },
      ],
    },
    {
      name: 'a transform reading an unknown collection',
      estuary: 'NoSuchEntitySuggest',
      mutate: (c) => {
        transforms(c)[0].source = 'acmeCo/ordrs';
      },
      errors: [
        {
          code: 'UnknownCollection',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/source',
          says: ['transform `fromOrders` source', 'no collection `acmeCo/ordrs` is defined'],
          hint: 'did you mean `acmeCo/orders`?',
        },
      ],
    },
    {
      name: 'a materialization binding of an unknown collection',
      estuary: 'NoSuchEntity',
      mutate: (c) => {
        bindings(c)[0].source = 'acmeCo/nothing';
      },
      errors: [
        {
          code: 'UnknownCollection',
          pointer: '/materializations/acmeCo~1to-dynamo/bindings/0/source',
          says: ['binding 0 source', 'no collection `acmeCo/nothing` is defined'],
        },
      ],
    },
    {
      name: 'a capture binding into a capture',
      estuary: 'NoSuchEntity',
      mutate: (c) => {
        c.captures['acmeCo/ingest'].bindings[0].target = 'acmeCo/ingest';
      },
      errors: [
        {
          code: 'UnknownCollection',
          pointer: '/captures/acmeCo~1ingest/bindings/0/target',
          says: ['`acmeCo/ingest` is a capture, not a collection'],
        },
      ],
    },
    {
      name: 'a test step of an unknown collection',
      estuary: 'NoSuchEntity',
      mutate: (c) => {
        steps(c)[1].verify.collection = 'acmeCo/total';
      },
      errors: [
        {
          code: 'UnknownCollection',
          pointer: '/tests/acmeCo~1test-totals/1/verify/collection',
          says: ['step 1 verify', 'no collection `acmeCo/total`'],
          hint: 'did you mean `acmeCo/totals`?',
        },
      ],
    },
    {
      name: 'a missing import',
      estuary: 'load error (fetch)',
      mutate: (c) => {
        c.import = ['shared.flow.yaml'];
      },
      errors: [
        {
          code: 'FileNotFound',
          pointer: '/import/0',
          says: ['catalog file ', 'shared.flow.yaml does not exist'],
          line: '- shared.flow.yaml',
        },
      ],
    },
    {
      name: 'a schema $ref to a fragment that does not exist',
      estuary: 'NoSuchSchema',
      files: { 'order.schema.yaml': 'type: object\nproperties: {id: {type: integer}}\nrequired: [id]\n' },
      mutate: (c) => {
        orders(c).schema = 'order.schema.yaml#/$defs/order';
        delete orders(c).projections;
        steps(c)[0].ingest.documents = [{ id: 1 }];
        transforms(c)[0].shuffle = 'any';
      },
      errors: [
        {
          code: 'SchemaNotFound',
          pointer: '/collections/acmeCo~1orders/schema',
          says: ['order.schema.yaml has nothing at `/$defs/order`'],
        },
      ],
    },
    {
      name: 'an inline $ref that resolves to nothing',
      estuary: 'SchemaIndex (unresolved $ref)',
      mutate: (c) => {
        orders(c).schema.properties.customer = { $ref: '#/$defs/customer' };
      },
      errors: [
        {
          code: 'SchemaNotFound',
          pointer: '/collections/acmeCo~1orders/schema/properties/customer/$ref',
          says: ['has nothing at `/$defs/customer`'],
        },
      ],
    },
    {
      name: 'an empty key',
      estuary: 'CollectionKeyEmpty',
      mutate: (c) => {
        orders(c).key = [];
      },
      errors: [
        { code: 'KeyEmpty', pointer: '/collections/acmeCo~1orders/key', says: ['at least one JSON pointer'] },
      ],
    },
    {
      name: 'a key that cannot exist',
      estuary: 'PtrCannotExist',
      mutate: (c) => {
        orders(c).schema.additionalProperties = false;
        orders(c).key = ['/ID'];
      },
      errors: [
        {
          code: 'KeyNotFound',
          pointer: '/collections/acmeCo~1orders/key/0',
          says: ['key `/ID` cannot exist in documents of the schema'],
          line: '- /ID',
        },
      ],
    },
    {
      name: 'a reduced key',
      estuary: 'KeyHasReduction',
      mutate: (c) => {
        orders(c).schema.properties.id.reduce = { strategy: 'maximize' };
      },
      errors: [
        {
          code: 'KeyHasReduce',
          pointer: '/collections/acmeCo~1orders/key/0',
          says: ['`maximize` reduce annotation', 'cannot be reduced'],
          line: '- /id',
        },
      ],
    },
    {
      name: 'schema and writeSchema together',
      estuary: 'InvalidSchemaCombination',
      mutate: (c) => {
        orders(c).writeSchema = orders(c).schema;
      },
      errors: [
        {
          code: 'ConflictingProperties',
          pointer: '/collections/acmeCo~1orders/writeSchema',
          says: ['either `schema`, or `writeSchema` and `readSchema`'],
        },
      ],
    },
    {
      name: 'a transform without shuffle',
      estuary: 'ShuffleUnset',
      mutate: (c) => {
        delete transforms(c)[0].shuffle;
      },
      errors: [
        {
          code: 'MissingProperty',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0',
          says: ['must have `shuffle`', '`any`', '`{key: [/pointer, ...]}`'],
          line: 'name: fromOrders',
        },
      ],
    },
    {
      name: 'an ingested document that fails the schema',
      estuary: 'IngestDocInvalid',
      mutate: (c) => {
        steps(c)[0].ingest.documents.push({ id: 'two', customer: 'b', meta: { region: 'EU' } });
      },
      errors: [
        {
          code: 'IngestDocumentInvalid',
          pointer: '/tests/acmeCo~1test-totals/0/ingest/documents/1',
          says: ['document 1 of the ingest into `acmeCo/orders`', '/id: must be integer'],
          line: '- id: two',
        },
      ],
    },
    {
      name: 'an ingested document of a fixture file that fails the schema',
      estuary: 'IngestDocInvalid',
      files: {
        'orders.json': '[{"id": 1, "customer": "a", "meta": {"region": "EU"}},\n {"id": 2, "meta": {}}]\n',
      },
      mutate: (c) => {
        steps(c)[0].ingest.documents = 'orders.json';
      },
      errors: [
        {
          code: 'IngestDocumentInvalid',
          pointer: '/1',
          file: 'orders.json',
          says: ['document 1 of the ingest into `acmeCo/orders`', "must have required property 'customer'"],
        },
      ],
    },
    {
      name: 'a fixture file that is not a list',
      estuary: 'DocumentsFixture (load)',
      files: { 'orders.json': '{"id": 1}\n' },
      mutate: (c) => {
        steps(c)[0].ingest.documents = 'orders.json';
      },
      errors: [
        {
          code: 'WrongType',
          pointer: '',
          file: 'orders.json',
          says: ['must hold a list of documents; it holds an object'],
        },
      ],
    },
    {
      name: 'verify documents out of key order',
      estuary: 'TestVerifyOrder',
      mutate: (c) => {
        steps(c)[1].verify.documents = [{ customer: 'b' }, { customer: 'a' }];
      },
      errors: [
        {
          code: 'TestVerifyOrder',
          pointer: '/tests/acmeCo~1test-totals/1/verify/documents/1',
          says: ['not in collection key order', 'document 1 (key ["a"]) sorts before document 0 (key ["b"])'],
          line: '- customer: a',
        },
      ],
    },
    {
      name: 'a sum of strings',
      estuary: 'SchemaShape (reduce inspections)',
      mutate: (c) => {
        totals(c).schema.properties.note = { type: 'string', reduce: { strategy: 'sum' } };
      },
      errors: [
        {
          code: 'ReduceWrongType',
          pointer: '/collections/acmeCo~1totals/schema/properties/note/reduce',
          says: ['`sum` at `/note`', 'reduces numbers', 'may be string'],
          line: 'strategy: sum',
        },
      ],
    },
    {
      name: 'valid: disabled transforms and bindings may name collections that do not exist',
      estuary: 'ok (derivation.rs, materialization.rs: disabled)',
      mutate: (c) => {
        transforms(c).push({
          name: 'old',
          source: 'acmeCo/gone',
          shuffle: 'any',
          lambda: 'SELECT 1;',
          disable: true,
        });
        bindings(c).push({ source: 'acmeCo/gone', resource: { table: 'gone' }, disable: true });
      },
      errors: [],
    },
  ]);
});

describe('logical partitions of write and read schemas (crates/validation/src/collection.rs walk_collection_projections)', () => {
  run([
    {
      name: 'a partition the write schema does not require',
      estuary: 'walk_ptr of the write schema for partitions',
      mutate: (c) => {
        const o = orders(c);
        o.readSchema = structuredClone(o.schema);
        o.writeSchema = o.schema;
        o.writeSchema.properties.meta.required = [];
        delete o.schema;
        steps(c)[0].ingest.documents = [{ id: 1, customer: 'a', meta: { region: 'EU' } }];
      },
      errors: [
        {
          code: 'PartitionNotRequired',
          pointer: '/collections/acmeCo~1orders/projections/region',
          says: ['`/meta/region` is not required by the write schema'],
          hint: 'add `region` to `required` at /meta',
          line: 'location: /meta/region',
        },
      ],
    },
    {
      name: 'a partition under an object the schema does not require: the hint names that object',
      estuary: 'walk_ptr (KeyMayNotExist: the location may not exist because its parent may not)',
      mutate: (c) => {
        orders(c).schema.required = ['id', 'customer'];
      },
      errors: [
        {
          code: 'PartitionNotRequired',
          pointer: '/collections/acmeCo~1orders/projections/region',
          says: ['`/meta/region` is not required by the schema'],
          hint: 'add `meta` to `required`',
          line: 'location: /meta/region',
        },
      ],
    },
  ]);
});

describe('JSON pointers (crates/models references.rs JSON_POINTER_RE; schema.rs PtrMissingLeadingSlash, PtrRegexUnmatched)', () => {
  run([
    {
      name: 'a projection location with an empty component',
      estuary: 'PtrRegexUnmatched',
      mutate: (c) => {
        orders(c).projections.r = '/meta//region';
      },
      errors: [
        {
          code: 'InvalidPointer',
          pointer: '/collections/acmeCo~1orders/projections/r',
          says: ['`"/meta//region"` is not a JSON pointer', 'no empty components'],
        },
      ],
    },
    {
      name: 'a shuffle key without its leading slash',
      estuary: 'PtrMissingLeadingSlash',
      mutate: (c) => {
        transforms(c)[0].shuffle = { key: ['customer'] };
      },
      errors: [
        {
          code: 'InvalidPointer',
          pointer: '/collections/acmeCo~1totals/derive/transforms/0/shuffle/key/0',
          says: ['`"customer"` is not a JSON pointer', 'write `/field/sub`'],
          line: '- customer',
        },
      ],
    },
    {
      name: 'a key with a bad escape',
      estuary: 'PtrRegexUnmatched',
      mutate: (c) => {
        orders(c).key = ['/id~2'];
      },
      errors: [
        {
          code: 'InvalidPointer',
          pointer: '/collections/acmeCo~1orders/key/0',
          says: ['`"/id~2"` is not a JSON pointer', '`~1` for `/` and `~0` for `~`'],
          line: '- /id~2',
        },
      ],
    },
  ]);
});

describe('test documents (crates/validation/src/test_step.rs; the sources loader: "an array of objects")', () => {
  run([
    {
      name: 'a verify document that is not an object',
      estuary: 'DocumentsFixture must be an array of objects',
      mutate: (c) => {
        steps(c)[1].verify.documents = [{ customer: 'a' }, 5];
      },
      errors: [
        {
          code: 'WrongType',
          pointer: '/tests/acmeCo~1test-totals/1/verify/documents/1',
          says: ['test document 1 must be an object; it is a number'],
          line: '- 5',
        },
      ],
    },
    {
      name: 'an ingest document that is not an object: one error, not a schema error too',
      estuary: 'DocumentsFixture must be an array of objects',
      mutate: (c) => {
        steps(c)[0].ingest.documents.push('x');
      },
      errors: [
        {
          code: 'WrongType',
          pointer: '/tests/acmeCo~1test-totals/0/ingest/documents/1',
          says: ['test document 1 must be an object; it is a string'],
          line: '- x',
        },
      ],
    },
  ]);
});

describe('schema inspections (crates/doc/src/shape/inspections.rs Shape::inspect, as collection.rs walk_collection_schema reports them)', () => {
  const orderSchema = '/collections/acmeCo~1orders/schema';
  run([
    {
      name: 'a `set` location declaring a property other than its terms',
      estuary: 'SetInvalidProperty',
      mutate: (c) => {
        orders(c).schema.reduce = { strategy: 'merge' };
        orders(c).schema.properties.seen = {
          type: 'object',
          reduce: { strategy: 'set' },
          properties: { add: { type: 'object' }, whoops: { type: 'object' } },
        };
      },
      errors: [
        {
          code: 'SetInvalidProperty',
          pointer: `${orderSchema}/properties/seen/properties/whoops`,
          says: ['`whoops`', '`set`', 'only `add`, `intersect` and `remove`'],
        },
      ],
    },
    {
      name: 'a default value its own schema rejects, behind a $ref',
      estuary: 'InvalidDefaultValue',
      mutate: (c) => {
        orders(c).schema.$defs = { qty: { type: 'integer', minimum: 1 } };
        orders(c).schema.properties.qty = { $ref: '#/$defs/qty', default: 0 };
      },
      errors: [
        {
          code: 'InvalidDefaultValue',
          pointer: `${orderSchema}/properties/qty/default`,
          says: ['default value 0', 'must be >= 1'],
        },
      ],
    },
    {
      name: 'a required location whose schema admits nothing',
      estuary: 'ImpossibleMustExist',
      mutate: (c) => {
        orders(c).schema.properties.meta.properties.never = false;
        orders(c).schema.properties.meta.required.push('never');
      },
      errors: [
        {
          code: 'ImpossibleMustExist',
          pointer: `${orderSchema}/properties/meta/required/1`,
          says: ['`/meta/never` is required in every document', 'admits no value'],
          line: '- never',
        },
        // As Estuary's test_step.rs would: no document can be valid, the test's included.
        {
          code: 'IngestDocumentInvalid',
          pointer: '/tests/acmeCo~1test-totals/0/ingest/documents/0',
          says: ['never'],
          line: '- id: 1',
        },
      ],
    },
    {
      name: 'valid: `set` terms, a default that fits, a forbidden optional property',
      estuary: 'ok',
      mutate: (c) => {
        orders(c).schema.reduce = { strategy: 'merge' };
        orders(c).schema.properties.seen = {
          type: 'object',
          reduce: { strategy: 'set' },
          properties: { add: { type: 'object' }, remove: { type: 'object' } },
        };
        orders(c).schema.properties.qty = { type: 'integer', default: 1 };
        orders(c).schema.properties.legacy = false;
      },
      errors: [],
    },
  ]);
});
