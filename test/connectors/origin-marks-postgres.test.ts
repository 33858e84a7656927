/**
 * Exactly once into PostgreSQL over re-published documents: a replayed derivation (or a re-polled
 * capture) appends the same documents again with the same origins, at new stream positions. The
 * transactional connector skips by stream position only, so before origin marks a sum was counted twice;
 * now the marks committed with the rows drop the copies — across a restart of the task too.
 */
import { MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { MemoryBlobStore, MemoryJournal } from '../../shared/adapters/memory.ts';
import { streamNameFor } from '../../shared/config/env.ts';
import { PostgresMaterialization } from '../../shared/connectors/materialize-postgres.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import { explicitHashKey, keyExtractor } from '../../shared/keys/index.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { readOriginMarks } from '../../shared/materialize/origin-marks.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import type { ShardInfo } from '../../shared/ports/journal.ts';
import { encodePosition } from '../../shared/ports/position.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { catalogWith, pgMaterialization } from './fixtures.ts';

let server: PgServer;
let admin: pg.Client;
let emulators: Emulators;
let clients: AwsClients;
beforeAll(async () => {
  server = await startPostgres();
  admin = await server.client();
  ({ emulators, clients } = await startStack());
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
  await emulators?.stop();
});

const COLLECTION = 'acme/orders';

describe('origin marks of a transactional materialization', () => {
  it('documents re-published with the same origin are applied once; fresh ones and other sources pass', async () => {
    const spec = pgMaterialization(server, 'acme/warehouse', 'orders_origins');
    const catalog = catalogWith({ 'acme/warehouse': spec });
    const registry = new SchemaRegistry(catalog.schemas);
    const open = async () => {
      const t = new MaterializeTask(
        spec,
        catalog,
        registry,
        await PostgresMaterialization.create({ spec, catalog }),
      );
      await t.open();
      return t;
    };
    const journal = new MemoryJournal({ shards: 1 });
    journal.ensure(COLLECTION);
    const extractor = keyExtractor(catalog.collections[COLLECTION]!.key);
    // As a derivation publishes them: origin `<its source shard>@<source position>:<rank>:<n>`.
    const publish = (docs: JsonObject[], source: string, from: number) =>
      journal.append(
        COLLECTION,
        docs.map((doc, i) => ({
          hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
          doc,
          origin: `${source}@${encodePosition(String(from + i), 0)}:000:000000`,
        })),
      );
    const [shard] = await journal.listShards(COLLECTION);
    let after: string | undefined;
    const deliver = async (t: MaterializeTask) => {
      const { records } = await journal.read(COLLECTION, shard!.shardId, after, 100);
      if (records.length === 0) return;
      await t.onBatch(decodeRecords(COLLECTION, records));
      after = records.at(-1)!.sequenceNumber;
    };
    const qty = async () =>
      Object.fromEntries(
        (await admin.query('SELECT order_id, qty FROM orders_origins ORDER BY order_id')).rows.map((r) => [
          Number(r.order_id),
          Number(r.qty),
        ]),
      );

    const first = await open();
    const batch = [1, 2, 3].map((id) => ({ id, qty: 10 }));
    await publish(batch, 'acme/in/shardId-000000000000', 100);
    await deliver(first);
    expect(await qty()).toEqual({ 1: 10, 2: 10, 3: 10 });

    // The derivation crashed after its append and replays: the same documents, same origins, again.
    await publish(batch, 'acme/in/shardId-000000000000', 100);
    await deliver(first);
    expect(await qty()).toEqual({ 1: 10, 2: 10, 3: 10 });
    expect(first.stats.docsSkipped).toBe(3);

    // A restarted task reads the marks back from the checkpoint table; a further copy is still dropped,
    // a later document of that source and one of another source are applied.
    await first.close();
    const second = await open();
    await publish(batch.slice(0, 1), 'acme/in/shardId-000000000000', 100);
    await publish([{ id: 1, qty: 5 }], 'acme/in/shardId-000000000000', 103);
    await publish([{ id: 2, qty: 7 }], 'acme/in/shardId-000000000001', 1);
    await deliver(second);
    expect(await qty()).toEqual({ 1: 15, 2: 17, 3: 10 });
    const stored = (
      await admin.query(
        "SELECT position FROM flow_checkpoints_v1 WHERE materialization = 'acme/warehouse' AND shard LIKE '%#origins'",
      )
    ).rows[0]?.position as string;
    expect(Object.keys(readOriginMarks(stored).marks).sort()).toEqual([
      'acme/in/shardId-000000000000',
      'acme/in/shardId-000000000001',
    ]);
    await second.close();
  });

  it('across a split and a merge of the stream (kinesalite): copies re-published into the children are still dropped', async () => {
    const spec = pgMaterialization(server, 'acme/resharded', 'orders_resharded');
    const catalog = catalogWith({ 'acme/resharded': spec });
    const registry = new SchemaRegistry(catalog.schemas);
    const prefix = uniqueName('pg-reshard');
    const journal = new KinesisJournal({
      client: clients.kinesis,
      streamName: (c) => streamNameFor(prefix, c),
    });
    await journal.ensureStream(COLLECTION, 1);
    const task = new MaterializeTask(
      spec,
      catalog,
      registry,
      await PostgresMaterialization.create({ spec, catalog }),
      {
        fragments: () => ({ blobs: new MemoryBlobStore(), folder: `${prefix}/${COLLECTION}/` }),
        journal,
      },
    );
    expect(await task.runBackfillJob()).toBe(true);
    const extractor = keyExtractor(catalog.collections[COLLECTION]!.key);
    // As a derivation publishes them, one source position per order id.
    const SOURCE = 'acme/in/shardId-000000000000';
    const publish = (ids: number[]) =>
      journal.append(
        COLLECTION,
        ids.map((id) => {
          const doc = { id, qty: 10 };
          return {
            hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
            doc,
            origin: `${SOURCE}@${encodePosition(String(100 + id), 0)}:000:000000`,
          };
        }),
      );
    const done = new Set<string>();
    // The mapping's order: a shard once, after its parents.
    const deliver = async (shards: ShardInfo[]) => {
      for (const s of shards) {
        if (done.has(s.shardId) && s.closed) continue;
        const { records } = await journal.read(COLLECTION, s.shardId, undefined, 1000);
        const fresh = records.filter((r) => !done.has(`${s.shardId}/${r.sequenceNumber}`));
        if (fresh.length > 0) await task.onBatch(decodeRecords(COLLECTION, fresh));
        for (const r of fresh) done.add(`${s.shardId}/${r.sequenceNumber}`);
        done.add(s.shardId);
      }
    };
    const until = async (n: number) => {
      for (let i = 0; i < 200; i++) {
        const all = await journal.listShards(COLLECTION);
        if (all.length === n)
          return all.sort((a, b) => (BigInt(a.startingHashKey) < BigInt(b.startingHashKey) ? -1 : 1));
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`not ${n} shards`);
    };
    const qty = async () =>
      Object.fromEntries(
        (await admin.query('SELECT order_id, qty FROM orders_resharded ORDER BY order_id')).rows.map((r) => [
          Number(r.order_id),
          Number(r.qty),
        ]),
      );
    const tens = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [i + 1, 10]));

    const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    await publish(ids(1, 12));
    const [parent] = await journal.listShards(COLLECTION);
    await deliver([parent]);
    expect(await qty()).toEqual(tens(12));

    // Split; the upstream replays (12 copies) and publishes 4 more: the copies land in the children.
    await clients.kinesis.send(
      new SplitShardCommand({
        StreamName: streamNameFor(prefix, COLLECTION),
        ShardToSplit: parent.shardId,
        NewStartingHashKey: (1n << 127n).toString(),
      }),
    );
    const children = (await until(3)).filter((s) => !s.closed);
    await publish(ids(1, 16));
    await deliver(children);
    expect(await qty()).toEqual(tens(16));

    // Merge; the upstream replays again (16 copies) with 4 more: the copies land in the merged shard.
    await clients.kinesis.send(
      new MergeShardsCommand({
        StreamName: streamNameFor(prefix, COLLECTION),
        ShardToMerge: children[0].shardId,
        AdjacentShardToMerge: children[1].shardId,
      }),
    );
    const merged = (await until(4)).filter((s) => !s.closed);
    await publish(ids(1, 20));
    await deliver(merged);
    expect(await qty()).toEqual(tens(20));
    expect(task.stats.docsSkipped).toBe(28);
    await task.close();
  });
});
