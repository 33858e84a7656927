/**
 * A materialization under `park` when a parked document's batch is delivered again: the destination
 * refuses order 3 and it is parked, then the isolated commit of order 4 meets an outage (the invocation
 * fails after the park), and a fix is deployed before the mapping delivers the batch again. The retry
 * must leave order 3 to its redrive, which applies it once: qty is summed, so applying it twice shows.
 * Before, the retry applied it and the redrive applied it again (qty 60).
 *
 * The wiring is functions/materialize.ts's own (createMaterializeTask, kinesisEntry) on the emulators;
 * PostgreSQL refuses by a real CHECK constraint (dropped as the fix), DynamoDB by an injected refusal of
 * the value (as no emulator refuses one value on demand), and both outages are injected.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaterializeTask } from '../../functions/materialize.ts';
import { kinesisEntry } from '../../functions/telemetry.ts';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import type { BuiltCatalog, MaterializationSpec } from '../../shared/catalog/model.ts';
import { parseEnv, streamNameFor } from '../../shared/config/env.ts';
import { createRuntime } from '../../shared/config/runtime.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import { PostgresMaterialization } from '../../shared/connectors/materialize-postgres.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import type { MaterializeConnector, MaterializeTransaction } from '../../shared/materialize/connector.ts';
import { recordsToEvent } from '../../shared/ports/events.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { quietly } from '../support/quiet.ts';
import { catalogWith, materialization, pgMaterialization } from './fixtures.ts';

let emulators: Emulators;
let clients: AwsClients;
let server: PgServer;
let admin: pg.Client;
beforeAll(async () => {
  ({ emulators, clients } = await startStack());
  server = await startPostgres();
  admin = await server.client();
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
  await emulators?.stop();
});

const ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/sluice-acme-orders';

/** A fresh state table (checkpoints, leases, tombstones). */
async function stateTable(): Promise<string> {
  const table = uniqueName('state');
  await new DynamoStateStore({ client: clients.dynamodb, table }).ensureTable();
  return table;
}

/** Orders whose stored (not deleted) document has this id in the transaction. */
const stores = (txn: MaterializeTransaction, id: number) =>
  txn.bindings.some((b) => b.docs.some((d) => !d.deleted && (d.doc as { id?: number }).id === id));

/**
 * Orders 1–5 (qty = id × 10) in one record through the task's handler: the first delivery parks 3 and
 * fails at 4's outage; then `fix()`, the batch delivered again, a redrive.
 */
async function parkOutageFixRetry(
  catalog: BuiltCatalog,
  name: string,
  stateTable: string,
  connector: MaterializeConnector,
  fix: () => Promise<void>,
): Promise<void> {
  let outage = true;
  const commit = connector.commit.bind(connector);
  connector.commit = async (txn) => {
    if (outage && stores(txn, 4) && txn.bindings.every((b) => b.docs.length === 1)) {
      outage = false;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    return commit(txn);
  };
  const bucket = uniqueName('parked');
  const prefix = uniqueName('t');
  const rt = createRuntime(
    parseEnv({
      SLUICE_TASK: name,
      SLUICE_PREFIX: prefix,
      SLUICE_STATE_TABLE: stateTable,
      SLUICE_BUCKET: bucket,
      SLUICE_PARKED: `s3://${bucket}/_sluice/parked/materialization:${name}/`,
    }),
    { catalog, registry: new SchemaRegistry(catalog.schemas), clients },
  );
  await new S3BlobStore({ client: clients.s3, bucket }).ensureBucket();
  const task = await createMaterializeTask(rt, name, connector);
  const handler = kinesisEntry(() => ({ ...task, collectionOfArn: () => 'acme/orders' }));
  const journal = new KinesisJournal({
    client: clients.kinesis,
    streamName: (c) => streamNameFor(prefix, c),
  });
  await journal.ensureStream('acme/orders', 1);
  await journal.append(
    'acme/orders',
    [1, 2, 3, 4, 5].map((id) => ({ hashKey: explicitHashKey(packKey([id])), doc: { id, qty: id * 10 } })),
  );
  const [shard] = await journal.listShards('acme/orders');
  const { records } = await journal.read('acme/orders', shard!.shardId, undefined, 100);
  expect(records).toHaveLength(1); // all five packed into one record
  const event = recordsToEvent(records, ARN);
  await quietly(async () => {
    // The batch fails on 3; 3 is parked; 4's isolated commit meets the outage: the invocation fails.
    await expect(handler(event)).rejects.toThrow(/Rate exceeded/);
    expect(await task.parking?.list()).toHaveLength(1);
    // The fix is deployed before the mapping delivers the batch again.
    await fix();
    await handler(event);
    expect(await handler({ sluiceRedrive: {} })).toMatchObject({ redriven: 1, remaining: 0 });
  });
}

describe('a parked document whose batch is delivered again after an outage and a fix', () => {
  it('materialize-postgres: the retry skips it (the checkpoint moved to it); its redrive applies it once', async () => {
    const spec: MaterializationSpec = pgMaterialization(server, 'acme/warehouse', 'orders_retried');
    const catalog = catalogWith({ 'acme/warehouse': spec });
    const connector = await PostgresMaterialization.create({ spec, catalog });
    await connector.apply();
    await admin.query('ALTER TABLE orders_retried ADD CONSTRAINT not_thirty CHECK (qty <> 30)');
    await parkOutageFixRetry(catalog, 'acme/warehouse', await stateTable(), connector, async () => {
      await admin.query('ALTER TABLE orders_retried DROP CONSTRAINT not_thirty');
    });
    const rows = await admin.query('SELECT order_id AS id, qty FROM orders_retried ORDER BY order_id');
    expect(rows.rows.map((r) => [Number(r.id), Number(r.qty)])).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
      [4, 40],
      [5, 50],
    ]);
    await connector.close();
  });

  it('materialize-dynamodb: the retry skips it (its position recorded with its key); its redrive applies it once', async () => {
    const table = uniqueName('orders');
    const name = 'acme/orders-to-dynamo';
    const catalog = catalogWith({ [name]: materialization(name, 'materialize-dynamodb', {}, [{ table }]) });
    const state = await stateTable();
    const connector = new DynamoDbConnector({
      spec: catalog.materializations[name],
      catalog,
      client: clients.dynamodb,
      stateTable: state,
    });
    // DynamoDB refuses order 3's value until the fix (an injected ValidationException).
    let broken = true;
    const commit = connector.commit.bind(connector);
    connector.commit = async (txn) => {
      if (broken && stores(txn, 3))
        throw Object.assign(new Error('One or more parameter values were invalid'), {
          name: 'ValidationException',
        });
      return commit(txn);
    };
    await parkOutageFixRetry(catalog, name, state, connector, async () => {
      broken = false;
    });
    const items = await connector.items(0);
    const qty = Object.fromEntries(
      items.map((i) => {
        const d = i.flow_document as { id: number; qty: number };
        return [d.id, d.qty];
      }),
    );
    expect(qty).toEqual({ 1: 10, 2: 20, 3: 30, 4: 40, 5: 50 });
  });
});
