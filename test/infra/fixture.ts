/**
 * A hand-built catalog for infra tests (independent of the loader): HTTP ingest → events, a derivation
 * totals, a DynamoDB and an S3 materialization, a polling PostgreSQL capture with a Secrets Manager
 * password, an S3-notification capture, one storage mapping with retention on one collection.
 */
import type { BuiltCatalog, CollectionSpec, SourceLocation } from '../../shared/catalog/model.ts';

export function loc(pointer: string): SourceLocation {
  return { file: '/cat/flow.yaml', line: 1, col: 1, pointer };
}

function collection(
  name: string,
  schema: string,
  key: string[],
  extra: Partial<CollectionSpec> = {},
): CollectionSpec {
  return {
    name,
    writeSchema: schema,
    readSchema: schema,
    key,
    projections: {},
    source: loc(`/collections/${name.replaceAll('/', '~1')}`),
    ...extra,
  };
}

export function fixtureCatalog(): BuiltCatalog {
  const events = 'file:///cat/events.schema.json';
  const totals = 'file:///cat/totals.schema.json';
  const orders = 'file:///cat/orders.schema.json';
  return {
    root: '/cat/flow.yaml',
    schemas: {
      [events]: {
        $id: events,
        type: 'object',
        properties: { id: { type: 'string' }, user: { type: 'string' }, n: { type: 'integer' } },
        required: ['id', 'user'],
      },
      [totals]: {
        $id: totals,
        type: 'object',
        properties: {
          user: { $ref: '#/$defs/user' },
          day: { type: 'integer' },
          n: { type: 'integer', reduce: { strategy: 'sum' } },
        },
        required: ['user', 'day'],
        $defs: { user: { type: 'string' } },
      },
      [orders]: {
        $id: orders,
        type: 'object',
        properties: { order_id: { type: 'integer' } },
        required: ['order_id'],
      },
    },
    collections: {
      'acme/events': collection('acme/events', events, ['/id'], {
        journals: { fragments: { retention: '720h' } },
      }),
      'acme/totals': collection('acme/totals', totals, ['/user', '/day'], {
        projections: { user_name: { location: '/user', partition: false } },
        derive: {
          using: { typescript: { module: '/cat/totals.ts' } },
          transforms: [
            {
              name: 'fromEvents',
              source: { name: 'acme/events' },
              shuffle: { key: ['/user'] },
              readDelay: 0,
              priority: 0,
              disable: false,
              backfill: 0,
            },
          ],
        },
      }),
      'acme/orders': collection('acme/orders', orders, ['/order_id']),
      'other/files': collection('other/files', events, ['/id']),
    },
    captures: {
      'acme/ingest': {
        name: 'acme/ingest',
        endpoint: {
          connector: 'source-http-ingest',
          image: 'ghcr.io/estuary/source-http-ingest:v1',
          config: {},
        },
        bindings: [{ resource: { path: '/events' }, target: 'acme/events', disable: false, backfill: 0 }],
        source: loc('/captures/acme~1ingest'),
      },
      'acme/pg': {
        name: 'acme/pg',
        endpoint: {
          connector: 'source-postgres-batch',
          image: 'source-postgres-batch',
          config: {
            address: 'db:5432',
            user: 'flow',
            password: 'secretsmanager:prod/pg#password',
            database: 'shop',
          },
        },
        bindings: [
          {
            resource: { name: 'orders', cursor: ['id'] },
            target: 'acme/orders',
            disable: false,
            backfill: 0,
          },
        ],
        interval: 120,
        source: loc('/captures/acme~1pg'),
      },
      'other/s3': {
        name: 'other/s3',
        endpoint: {
          connector: 'source-s3',
          image: 'source-s3',
          config: { bucket: 'partner-drop', prefix: 'incoming/', region: 'us-east-1' },
        },
        bindings: [{ resource: { stream: 'incoming/' }, target: 'other/files', disable: false, backfill: 0 }],
        source: loc('/captures/other~1s3'),
      },
    },
    materializations: {
      'acme/to-dynamo': {
        name: 'acme/to-dynamo',
        endpoint: {
          connector: 'materialize-dynamodb',
          image: 'materialize-dynamodb',
          config: { region: 'us-east-1' },
        },
        bindings: [
          {
            source: { name: 'acme/totals' },
            resource: { table: 'user_totals' },
            fields: { recommended: true },
            disable: false,
            backfill: 0,
          },
        ],
        source: loc('/materializations/acme~1to-dynamo'),
      },
      'acme/lake': {
        name: 'acme/lake',
        endpoint: {
          connector: 'materialize-s3',
          image: 'materialize-s3',
          config: { bucket: 'acme-lake', prefix: 'rollups', region: 'us-east-1' },
        },
        bindings: [
          {
            source: { name: 'acme/orders' },
            resource: { path: 'orders' },
            fields: { recommended: true },
            disable: false,
            backfill: 0,
          },
        ],
        source: loc('/materializations/acme~1lake'),
      },
    },
    tests: {},
    storageMappings: {
      'acme/': { prefix: 'acme/', stores: [{ provider: 'S3', bucket: 'acme-flow-data', prefix: 'flow/' }] },
    },
  };
}
