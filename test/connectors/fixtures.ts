/** A hand-built catalog (BuiltCatalog) for connector tests: orders keyed by /id, with a sum-reduced qty. */
import type { BuiltCatalog, CaptureSpec, MaterializationSpec } from '../../shared/catalog/model.ts';
import type { Json } from '../../shared/json/types.ts';

export const ORDERS_SCHEMA_URI = 'file:///fixtures/orders.schema.json';

export const ordersSchema: Json = {
  $id: ORDERS_SCHEMA_URI,
  type: 'object',
  required: ['id', 'qty'],
  properties: {
    id: { type: 'integer' },
    customer: { type: 'string' },
    qty: { type: 'integer', reduce: { strategy: 'sum' } },
    price: { type: 'number' },
    paid: { type: 'boolean' },
    at: { type: 'string', format: 'date-time' },
    tags: { type: 'array', items: { type: 'string' } },
    address: { $ref: '#/$defs/address' },
    _meta: { type: 'object' },
  },
  $defs: { address: { type: ['object', 'null'], properties: { city: { type: 'string' } } } },
  reduce: { strategy: 'merge' },
};

const loc = { file: '/fixtures/flow.yaml', line: 1, col: 1, pointer: '' };

export function catalogWith(materializations: Record<string, MaterializationSpec>): BuiltCatalog {
  return {
    root: '/fixtures/flow.yaml',
    schemas: { [ORDERS_SCHEMA_URI]: ordersSchema },
    collections: {
      'acme/orders': {
        name: 'acme/orders',
        writeSchema: ORDERS_SCHEMA_URI,
        readSchema: ORDERS_SCHEMA_URI,
        key: ['/id'],
        projections: {
          order_id: { location: '/id', partition: false },
          city: { location: '/address/city', partition: false },
        },
        source: loc,
      },
    },
    captures: {},
    materializations,
    tests: {},
    storageMappings: {},
  };
}

export function materialization(
  name: string,
  connector: string,
  config: Json,
  resources: Json[],
  source = 'acme/orders',
): MaterializationSpec {
  return {
    name,
    endpoint: { connector, image: `ghcr.io/estuary/${connector}:v1`, config },
    bindings: resources.map((resource) => ({
      source: { name: source },
      resource,
      fields: { recommended: true },
      disable: false,
      backfill: 0,
    })),
    source: loc,
  };
}

export function capture(
  name: string,
  connector: string,
  config: Json,
  resources: Json[],
  interval?: number,
): CaptureSpec {
  return {
    name,
    endpoint: { connector, image: connector, config },
    bindings: resources.map((resource, i) => ({
      resource,
      target: `acme/target-${i}`,
      disable: false,
      backfill: 0,
    })),
    interval,
    source: loc,
  };
}

/** A materialize-postgres materialization of acme/orders into `table`, on a test server's connection. */
export function pgMaterialization(
  server: { address: string; user: string; password: string; database: string; advanced: Json },
  name: string,
  table: string,
): MaterializationSpec {
  const { address, user, password, database, advanced } = server;
  return materialization(name, 'materialize-postgres', { address, user, password, database, advanced }, [
    { table },
  ]);
}
