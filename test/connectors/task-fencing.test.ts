/**
 * MaterializeTask after a FencedError: the stale instance re-opens (re-reading the committed checkpoint)
 * and retries, so a zombie's stale transaction never commits, the fresh instance continues, and the
 * PostgreSQL table equals the reduction of every document exactly once.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryJournal } from '../../shared/adapters/memory.ts';
import { PostgresMaterialization } from '../../shared/connectors/materialize-postgres.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import { explicitHashKey, keyExtractor } from '../../shared/keys/index.ts';
import { FencedError, type MaterializeConnector } from '../../shared/materialize/connector.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import { type DocBatch, decodeRecords } from '../../shared/ports/events.ts';
import type { JournalRecord } from '../../shared/ports/journal.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { catalogWith, materialization } from './fixtures.ts';

const COLLECTION = 'acme/orders';
let server: PgServer;
let admin: pg.Client;
beforeAll(async () => {
  server = await startPostgres();
  admin = await server.client();
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

const toBatch = (records: JournalRecord[]): DocBatch => decodeRecords(COLLECTION, records);

/** Counts commits that were fenced off. */
function observed(c: MaterializeConnector, fenced: { n: number }): MaterializeConnector {
  return {
    apply: () => c.apply(),
    open: () => c.open(),
    load: (b, k) => c.load(b, k),
    close: () => c.close(),
    commit: async (txn) => {
      try {
        await c.commit(txn);
      } catch (e) {
        if (e instanceof FencedError) fenced.n++;
        throw e;
      }
    },
  };
}

describe('MaterializeTask fencing', () => {
  it('a zombie loses its stale commit, re-opens and skips what the fresh instance committed', async () => {
    const spec = materialization(
      'acme/fenced',
      'materialize-postgres',
      {
        address: server.address,
        user: server.user,
        password: server.password,
        database: server.database,
        advanced: server.advanced,
      },
      [{ table: 'orders_fenced' }],
    );
    const catalog = catalogWith({ 'acme/fenced': spec });
    const collection = catalog.collections[COLLECTION];
    if (!collection) throw new Error('fixture');
    const registry = new SchemaRegistry(catalog.schemas);
    const journal = new MemoryJournal({ shards: 1 });
    journal.ensure(COLLECTION);
    const extractor = keyExtractor(collection.key);
    const sent: JsonObject[] = [];
    // one record per append, so each batch below is one record
    const append = async (from: number, n: number) => {
      const docs = Array.from({ length: n }, (_, i) => ({ id: (from + i) % 5, qty: from + i }));
      sent.push(...docs);
      await journal.append(
        COLLECTION,
        docs.map((doc) => ({
          hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
          doc,
        })),
      );
    };
    for (let i = 0; i < 4; i++) await append(i * 10, 10);
    const [shard] = await journal.listShards(COLLECTION);
    if (!shard) throw new Error('no shard');
    const records = (await journal.read(COLLECTION, shard.shardId, undefined, 100)).records;
    expect(records.length).toBe(4);
    const batch = (i: number) => toBatch([records[i] as JournalRecord]);

    const fencedA = { n: 0 };
    const fencedB = { n: 0 };
    const a = new MaterializeTask(
      spec,
      catalog,
      registry,
      observed(await PostgresMaterialization.create({ spec, catalog }), fencedA),
    );
    await a.onBatch(batch(0));
    // A stalls; a fresh instance B opens, and takes over batch 1 and 2.
    const b = new MaterializeTask(
      spec,
      catalog,
      registry,
      observed(await PostgresMaterialization.create({ spec, catalog }), fencedB),
    );
    await b.onBatch(batch(1));
    await b.onBatch(batch(2));
    // A wakes up with batch 1 (its stale view: the checkpoint after batch 0). Its commit is fenced;
    // it re-opens, sees batch 1 committed and applies nothing of it twice.
    await a.onBatch(batch(1));
    expect(fencedA.n).toBe(1);
    expect(a.stats.reopened).toBe(1);
    expect(a.stats.docsSkipped).toBeGreaterThanOrEqual(10);
    // B continues with batch 3: A took the shard's fence over, so B re-opens once and commits.
    await b.onBatch(batch(3));
    expect(b.stats.reopened).toBe(fencedB.n);
    // The zombie redelivers batch 2 and 3: everything skipped.
    await a.onBatch(batch(2));
    await a.onBatch(batch(3));
    await Promise.all([a.close(), b.close()]);

    const oracle = new Map<number, number>();
    for (const d of sent) oracle.set(d.id as number, (oracle.get(d.id as number) ?? 0) + (d.qty as number));
    const rows = await admin.query<{ order_id: string; qty: string }>(
      'SELECT order_id, qty FROM public.orders_fenced ORDER BY order_id',
    );
    expect(rows.rows.map((r) => [Number(r.order_id), Number(r.qty)])).toEqual(
      [...oracle].sort(([x], [y]) => x - y),
    );
    expect(oracle.size).toBe(5);
  });
});
