/**
 * The `park` policy on a materialization, with a real PostgreSQL: a row the database refuses (a CHECK
 * constraint the user added: SQLSTATE 23514, the row's fault) parks that one document — the others
 * packed with it in the same Kinesis record are committed — and once the constraint is fixed, a
 * redrive commits it exactly once (a second one, even of a parked object left behind, changes nothing).
 * An outage (the database refusing connections) is not the document's fault: it halts even under park.
 */

import type { KinesisStreamEvent } from 'aws-lambda';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchTask, kinesisEntry } from '../../functions/telemetry.ts';
import { MemoryBlobStore, MemoryJournal } from '../../shared/adapters/memory.ts';
import { PostgresMaterialization } from '../../shared/connectors/materialize-postgres.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import { explicitHashKey, keyExtractor } from '../../shared/keys/index.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import type { JournalRecord } from '../../shared/ports/journal.ts';
import { ParkingLot, parkedPrefix } from '../../shared/ports/parking.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { catalogWith, pgMaterialization } from './fixtures.ts';

let server: PgServer;
let admin: pg.Client;
beforeAll(async () => {
  server = await startPostgres();
  admin = await server.client();
});
let stopped = false;
afterAll(async () => {
  if (stopped) return;
  await admin?.end();
  await server?.stop();
});

const COLLECTION = 'acme/orders';

/** Journal records as Lambda's Kinesis event-source mapping delivers them. */
function kinesisEvent(records: JournalRecord[]): KinesisStreamEvent {
  return {
    Records: records.map((r) => ({
      eventID: `${r.shardId}:${r.sequenceNumber}`,
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/orders',
      kinesis: {
        data: Buffer.from(r.data).toString('base64'),
        sequenceNumber: r.sequenceNumber,
        approximateArrivalTimestamp: r.arrivalMs / 1000,
        partitionKey: 'k',
        kinesisSchemaVersion: '1.0',
      },
    })) as unknown as KinesisStreamEvent['Records'],
  };
}
const LABEL = 'materialization:acme/warehouse';

describe('park on materialize-postgres', () => {
  it('parks only the row PostgreSQL refuses; redrive after the fix applies it once', async () => {
    const spec = pgMaterialization(server, 'acme/warehouse', 'orders_parked');
    const catalog = catalogWith({ 'acme/warehouse': spec });
    const registry = new SchemaRegistry(catalog.schemas);
    const task = new MaterializeTask(
      spec,
      catalog,
      registry,
      await PostgresMaterialization.create({ spec, catalog }),
    );
    await task.open(); // creates the table
    await admin.query('ALTER TABLE orders_parked ADD CONSTRAINT small_orders CHECK (qty < 1000)');

    const blobs = new MemoryBlobStore();
    const lot = new ParkingLot(blobs, parkedPrefix(LABEL), LABEL);
    const batchTask: BatchTask = {
      collectionOfArn: () => COLLECTION,
      onBatch: (b) => task.onBatch(b),
      counters: () => ({ docsOut: task.stats.keysStored }),
      parking: lot,
    };
    const handler = kinesisEntry(() => batchTask);

    const journal = new MemoryJournal({ shards: 1 });
    journal.ensure(COLLECTION);
    const extractor = keyExtractor(catalog.collections[COLLECTION]!.key);
    const docs: JsonObject[] = [1, 2, 3, 4, 5].map((id) => ({ id, qty: id === 3 ? 5000 : id * 10 }));
    await journal.append(
      COLLECTION,
      docs.map((doc) => ({
        hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
        doc,
      })),
    );
    const [shard] = await journal.listShards(COLLECTION);
    const { records } = await journal.read(COLLECTION, shard!.shardId, undefined, 100);
    expect(records).toHaveLength(1); // all five packed into one record
    const event = kinesisEvent(records);

    const rows = async () =>
      (await admin.query('SELECT order_id AS id, qty FROM orders_parked ORDER BY order_id')).rows.map((r) => [
        Number(r.id),
        Number(r.qty),
      ]);

    await handler(event);
    expect(await rows()).toEqual([
      [1, 10],
      [2, 20],
      [4, 40],
      [5, 50],
    ]);
    const parked = await lot.list();
    expect(parked).toHaveLength(1);
    expect(parked[0]!.parked.doc).toEqual({ id: 3, qty: 5000 });
    expect(parked[0]!.parked.error).toMatch(/small_orders/);
    // Redelivered (the mapping retried after a timeout): nothing changes, nothing parked twice.
    await handler(event);
    expect(await rows()).toHaveLength(4);
    expect(await lot.list()).toHaveLength(1);

    // Still refused: stays parked.
    expect(await handler({ sluiceRedrive: {} })).toMatchObject({ redriven: 0, remaining: 1 });

    await admin.query('ALTER TABLE orders_parked DROP CONSTRAINT small_orders');
    expect(await handler({ sluiceRedrive: {} })).toEqual({ redriven: 1, remaining: 0, failures: [] });
    expect(await rows()).toEqual([
      [1, 10],
      [2, 20],
      [3, 5000],
      [4, 40],
      [5, 50],
    ]);
    // Left behind by a crash before its removal: applied again without effect (qty is summed).
    await blobs.put(parked[0]!.key, Buffer.from(JSON.stringify(parked[0]!.parked)));
    expect(await handler({ sluiceRedrive: {} })).toMatchObject({ redriven: 1, remaining: 0 });
    expect((await rows())[2]).toEqual([3, 5000]);
    expect(await handler({ sluiceRedrive: {} })).toEqual({ redriven: 0, remaining: 0, failures: [] });

    // An outage halts even under park: the batch fails, nothing is parked.
    await journal.append(COLLECTION, [
      {
        hashKey: explicitHashKey(Buffer.from(extractor.packBinary({ id: 9, qty: 1 }), 'latin1')),
        doc: { id: 9, qty: 1 },
      },
    ]);
    const next = await journal.read(COLLECTION, shard!.shardId, records.at(-1)!.sequenceNumber, 100);
    // The database goes away (the last step: the server is not started again).
    await admin.end();
    await server.stop();
    stopped = true;
    const outage = await handler(kinesisEvent(next.records)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(outage).toBeInstanceOf(Error);
    expect(await lot.list()).toEqual([]);
    await task.close().catch(() => undefined);
  });
});
