/**
 * Backfill end to end on real parts: a journal (MemoryJournal), the persist task writing fragments into the
 * S3 emulator, the materialize task driving materialize-postgres on a real PostgreSQL. A materialization
 * added after N documents reads them from the fragments, then continues from Kinesis with M more, and
 * ends with exactly the reduction of all N + M (redelivered batches at the seam included).
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { listFragments, parseFragmentKey, runBackfill } from '../../shared/backfill/fragments.ts';
import { PostgresMaterialization } from '../../shared/connectors/materialize-postgres.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import { explicitHashKey, keyExtractor } from '../../shared/keys/index.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import { metaUuid } from '../../shared/meta/uuid.ts';
import { PersistTask } from '../../shared/persist/task.ts';
import { type DocBatch, decodeRecords } from '../../shared/ports/events.ts';
import type { JournalRecord } from '../../shared/ports/journal.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { catalogWith, materialization } from './fixtures.ts';
import { type S3Env, startS3 } from './s3-support.ts';

let server: PgServer;
let admin: pg.Client;
let s3: S3Env;
beforeAll(async () => {
  [server, s3] = await Promise.all([startPostgres(), startS3()]);
  admin = await server.client();
});
afterAll(async () => {
  await admin?.end();
  await Promise.all([server?.stop(), s3?.stop()]);
});

const COLLECTION = 'acme/orders';

const toBatch = (records: JournalRecord[]): DocBatch => decodeRecords(COLLECTION, records);

/** Deliver every record of every shard after `after[shard]` to `onBatch`, in batches of `batch` records. */
async function deliver(
  journal: MemoryJournal,
  after: Record<string, string | undefined>,
  batch: number,
  onBatch: (b: DocBatch) => Promise<void>,
): Promise<Record<string, string | undefined>> {
  const next = { ...after };
  for (const s of await journal.listShards(COLLECTION)) {
    for (;;) {
      const r = await journal.read(COLLECTION, s.shardId, next[s.shardId], batch);
      if (r.records.length === 0) break;
      await onBatch(toBatch(r.records));
      next[s.shardId] = r.records[r.records.length - 1]?.sequenceNumber;
    }
  }
  return next;
}

describe('backfill from S3 fragments, then Kinesis', () => {
  it('parses fragment names of the persist task', () => {
    expect(
      parseFragmentKey(
        'flow/acme/orders/',
        'flow/acme/orders/region=eu/pivot=shardId-000000000001/utc_date=2024-01-02/utc_hour=03/49001-49007.json.gz',
      ),
    ).toEqual({
      key: 'flow/acme/orders/region=eu/pivot=shardId-000000000001/utc_date=2024-01-02/utc_hour=03/49001-49007.json.gz',
      partition: 'region=eu',
      shardId: 'shardId-000000000001',
      firstSeq: '49001',
      lastSeq: '49007',
    });
    expect(
      parseFragmentKey(
        'flow/acme/orders/',
        'flow/acme/orders-v2/pivot=s/utc_date=2024-01-02/utc_hour=03/1-2.json.gz',
      ),
    ).toBe(undefined);
  });

  it('a materialization added after N documents ends with the reduction of all N + M', async () => {
    const blobs = await s3.bucket('fragments');
    const prefix = 'flow/';
    const spec = materialization(
      'acme/warehouse',
      'materialize-postgres',
      {
        address: server.address,
        user: server.user,
        password: server.password,
        database: server.database,
        advanced: server.advanced,
      },
      [{ table: 'orders_backfilled' }],
    );
    const catalog = catalogWith({ 'acme/warehouse': spec });
    const collection = catalog.collections[COLLECTION];
    if (!collection) throw new Error('fixture');
    const registry = new SchemaRegistry(catalog.schemas);
    const journal = new MemoryJournal({ shards: 2 });
    journal.ensure(COLLECTION);
    const extractor = keyExtractor(collection.key);
    const sent: JsonObject[] = [];
    const append = async (docs: JsonObject[]) => {
      sent.push(...docs);
      // several documents per record: the journal packs documents bound for the same shard
      await journal.append(
        COLLECTION,
        docs.map((doc) => ({
          hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
          doc,
        })),
      );
    };
    const gen = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: ((from + i) * 7) % 23,
        qty: from + i,
        customer: `c${from + i}`,
        // as a capture stamps them: deterministic from the source position
        _meta: { uuid: metaUuid(1_700_000_000_000 + from + i, 'acme/orders-capture', from + i) },
      }));

    // 1. N documents, persisted to fragments in batches of 3 records; one batch persisted twice with
    //    other boundaries (a retried persist invocation) to exercise overlap handling.
    const persist = new PersistTask(
      collection,
      registry,
      blobs,
      new MemoryStateStore(),
      `${prefix}${COLLECTION}/`,
    );
    for (let i = 0; i < 10; i++) await append(gen(i * 10, 10));
    await deliver(journal, {}, 3, (b) => persist.onBatch(b));
    await deliver(journal, {}, 5, (b) => persist.onBatch(b));
    const fragments = await listFragments(blobs, `${prefix}${COLLECTION}/`);
    expect([...fragments.keys()].length).toBeGreaterThan(0);

    // 2. The materialization is added: backfill from fragments.
    const conn = await PostgresMaterialization.create({ spec, catalog });
    const task = new MaterializeTask(spec, catalog, registry, conn);
    const res = await runBackfill({
      blobs,
      folder: `${prefix}${COLLECTION}/`,
      collection: COLLECTION,
      onBatch: (b) => task.onBatch(b),
    });
    expect(res.docs).toBe(100);

    // 3. M more documents arrive; Kinesis continues after the fragments' end (and redelivers the
    //    first batch once, as an event-source mapping may).
    await append(gen(100, 37));
    const after = Object.fromEntries(Object.entries(res.resume));
    let first = true;
    await deliver(journal, after, 4, async (b) => {
      await task.onBatch(b);
      if (first) {
        first = false;
        await task.onBatch(b);
      }
    });
    await task.close();

    // 4. The table equals the oracle: qty summed, customer last-write-wins, per id.
    const oracle = new Map<number, { qty: number; customer: string }>();
    for (const d of sent) {
      const cur = oracle.get(d.id as number);
      oracle.set(d.id as number, {
        qty: (cur?.qty ?? 0) + (d.qty as number),
        customer: d.customer as string,
      });
    }
    const rows = await admin.query<{ order_id: string; qty: string; customer: string }>(
      'SELECT order_id, qty, customer FROM public.orders_backfilled ORDER BY order_id',
    );
    expect(rows.rows.map((r) => [Number(r.order_id), Number(r.qty), r.customer])).toEqual(
      [...oracle].sort(([a], [b]) => a - b).map(([id, v]) => [id, v.qty, v.customer]),
    );
    expect(sent.length).toBe(137);
  });

  it('a bumped backfill counter rebuilds the table from history instead of reducing it onto the rows again', async () => {
    const blobs = await s3.bucket('fragments-rebackfill');
    const prefix = 'flow/';
    const config = {
      address: server.address,
      user: server.user,
      password: server.password,
      database: server.database,
      advanced: server.advanced,
    };
    const specAt = (backfill: number) => {
      const spec = materialization('acme/rebuilt', 'materialize-postgres', config, [
        { table: 'orders_rebuilt' },
      ]);
      spec.bindings[0].backfill = backfill;
      return spec;
    };
    const catalog = catalogWith({ 'acme/rebuilt': specAt(0) });
    const collection = catalog.collections[COLLECTION]!;
    const registry = new SchemaRegistry(catalog.schemas);
    const journal = new MemoryJournal({ shards: 2 });
    journal.ensure(COLLECTION);
    const extractor = keyExtractor(collection.key);
    const docs = Array.from({ length: 60 }, (_, i) => ({
      id: i % 9,
      qty: i + 1,
      customer: `c${i}`,
      _meta: { uuid: metaUuid(1_700_000_000_000 + i, 'acme/orders-capture', i) },
    }));
    await journal.append(
      COLLECTION,
      docs.map((doc) => ({
        hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
        doc,
      })),
    );
    // The first 60 documents are persisted to fragments; 20 more stay in the journal only.
    const persist = new PersistTask(
      collection,
      registry,
      blobs,
      new MemoryStateStore(),
      `${prefix}${COLLECTION}/`,
    );
    await deliver(journal, {}, 7, (b) => persist.onBatch(b));
    const more = Array.from({ length: 20 }, (_, i) => ({
      id: i % 9,
      qty: 100 + i,
      customer: `d${i}`,
      _meta: { uuid: metaUuid(1_700_000_001_000 + i, 'acme/orders-capture', 60 + i) },
    }));
    await journal.append(
      COLLECTION,
      more.map((doc) => ({
        hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
        doc,
      })),
    );
    const history = {
      fragments: () => ({ blobs, folder: `${prefix}${COLLECTION}/` }),
      journal,
      streamArn: () => 'arn:aws:kinesis:us-east-1:000000000000:stream/acme_orders',
    };
    const oracle = new Map<number, number>();
    for (const d of [...docs, ...more]) oracle.set(d.id, (oracle.get(d.id) ?? 0) + d.qty);
    const table = async () =>
      (
        await admin.query<{ order_id: string; qty: string }>(
          'SELECT order_id, qty FROM public.orders_rebuilt ORDER BY order_id',
        )
      ).rows.map((r) => [Number(r.order_id), Number(r.qty)]);
    const expected = [...oracle].sort(([a], [b]) => a - b);

    // Counter 0: backfill from fragments, then the mapping delivers the whole stream (as from TRIM_HORIZON).
    const first = new MaterializeTask(
      specAt(0),
      catalog,
      registry,
      await PostgresMaterialization.create({ spec: specAt(0), catalog }),
      history,
    );
    expect(await first.runBackfillJob()).toBe(true);
    await deliver(journal, {}, 6, (b) => first.onBatch(b));
    await first.close();
    expect(await table()).toEqual(expected);

    // Counter bumped to 1: the table is emptied and rebuilt from fragments + journal: still the oracle.
    const bumped = catalogWith({ 'acme/rebuilt': specAt(1) });
    const second = new MaterializeTask(
      specAt(1),
      bumped,
      registry,
      await PostgresMaterialization.create({ spec: specAt(1), catalog: bumped }),
      history,
    );
    expect(await second.runBackfillJob()).toBe(true);
    expect(second.backfills).toHaveLength(1);
    expect(second.backfills[0]?.docs).toBe(60);
    expect(second.backfills[0]?.journalRecords).toBeGreaterThan(0);
    await deliver(journal, {}, 6, (b) => second.onBatch(b));
    await second.close();
    expect(await table()).toEqual(expected);
  });
});
