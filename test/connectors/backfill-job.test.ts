/**
 * Backfill as a job (shared/materialize/task.ts `ensureBackfilled`), on real parts: the Kinesis emulator
 * (kinesalite) as the journal, fragments persisted by the persist task into the S3 emulator, the lease in
 * the DynamoDB emulator's state table (dynalite), materialize-postgres on a real PostgreSQL.
 *
 * - two instances cold-started together on a new binding: one leads the backfill, the other waits for
 *   it; no error surfaces and the table equals the oracle;
 * - a backfill killed midway resumes from its committed progress without reading completed fragments
 *   again (reads counted on the wire of the blob store);
 * - a re-backfill's TRUNCATE is part of the fenced transaction: a leader that stalled past its lease and
 *   wakes up after another instance rebuilt the table truncates nothing.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyClients, EMULATOR_CREDENTIALS, makeClients } from '../../shared/adapters/clients.ts';
import { ensureTable } from '../../shared/adapters/dynamodb.ts';
import { DynamoBackfillLease } from '../../shared/adapters/dynamodb-lease.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { MemoryStateStore } from '../../shared/adapters/memory.ts';
import { listFragments } from '../../shared/backfill/fragments.ts';
import type { BuiltCatalog, MaterializationSpec } from '../../shared/catalog/model.ts';
import { PostgresMaterialization } from '../../shared/connectors/materialize-postgres.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import { explicitHashKey, keyExtractor } from '../../shared/keys/index.ts';
import {
  type BackfillJobOptions,
  type HistorySource,
  MaterializeTask,
} from '../../shared/materialize/task.ts';
import { metaUuid } from '../../shared/meta/uuid.ts';
import { PersistTask } from '../../shared/persist/task.ts';
import type { BlobStore } from '../../shared/ports/blob.ts';
import { type DocBatch, decodeRecords } from '../../shared/ports/events.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { catalogWith, materialization } from './fixtures.ts';
import { type S3Env, startS3 } from './s3-support.ts';

const COLLECTION = 'acme/orders';
const STATE_TABLE = 'sluice-state';

let server: PgServer;
let admin: pg.Client;
let s3: S3Env;
let clients: ReturnType<typeof makeClients>;
beforeAll(async () => {
  [server, s3] = await Promise.all([startPostgres(), startS3()]);
  admin = await server.client();
  clients = makeClients({
    region: 'us-east-1',
    endpoints: s3.emulators.endpoints,
    credentials: EMULATOR_CREDENTIALS,
  });
  await ensureTable(clients.dynamodb, STATE_TABLE, { name: 'p', type: 'S' }, { name: 'k', type: 'B' });
});
afterAll(async () => {
  await admin?.end();
  if (clients) destroyClients(clients);
  await Promise.all([server?.stop(), s3?.stop()]);
});

/** A blob store that counts the objects read through it (the backfill's GetObject calls). */
function counting(blobs: BlobStore): BlobStore & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    put: (k, b, t) => blobs.put(k, b, t),
    list: (p) => blobs.list(p),
    delete: (k) => blobs.delete(k),
    get: (k, o) => {
      reads.push(k);
      return blobs.get(k, o);
    },
  };
}

interface World {
  name: string;
  catalog: BuiltCatalog;
  spec: MaterializationSpec;
  registry: SchemaRegistry;
  journal: KinesisJournal;
  blobs: BlobStore;
  folder: string;
  sent: JsonObject[];
  shards: string[];
  append(docs: JsonObject[]): Promise<void>;
  /** Persist every record of the journal to fragments, `batch` records per fragment. */
  persistAll(batch: number): Promise<void>;
  history(blobs?: BlobStore): HistorySource;
  task(
    job: BackfillJobOptions,
    opts?: { spec?: MaterializationSpec; blobs?: BlobStore },
  ): Promise<MaterializeTask>;
  lease(): DynamoBackfillLease;
  /** The shard's records from the start, as batches of `size` records (what its mapping delivers). */
  batches(shardId: string, size: number): Promise<DocBatch[]>;
  table(): Promise<[number, number][]>;
  oracle(): [number, number][];
  /** The materialization's spec with the binding's `backfill` counter at `counter`. */
  specAt(counter: number): MaterializationSpec;
}

let worlds = 0;
async function world(table: string, backfill = 0): Promise<World> {
  const n = ++worlds;
  const name = `acme/job-${n}`;
  const config = {
    address: server.address,
    user: server.user,
    password: server.password,
    database: server.database,
    advanced: server.advanced,
  };
  const specAt = (counter: number) => {
    const spec = materialization(name, 'materialize-postgres', config, [{ table }]);
    spec.bindings[0].backfill = counter;
    return spec;
  };
  const spec = specAt(backfill);
  const catalog = catalogWith({ [name]: spec });
  const collection = catalog.collections[COLLECTION];
  if (!collection) throw new Error('fixture');
  const registry = new SchemaRegistry(catalog.schemas);
  const journal = new KinesisJournal({ client: clients.kinesis, streamName: () => `orders-job-${n}` });
  await journal.ensureStream(COLLECTION, 2);
  const shards = (await journal.listShards(COLLECTION)).map((s) => s.shardId);
  const blobs = await s3.bucket(`fragments-job-${n}`);
  const folder = `flow/${COLLECTION}/`;
  const extractor = keyExtractor(collection.key);
  const sent: JsonObject[] = [];
  const persisted: Record<string, string | undefined> = {};
  const persist = new PersistTask(collection, registry, blobs, new MemoryStateStore(), folder);
  const read = async (shardId: string, after: string | undefined, size: number) =>
    (await journal.read(COLLECTION, shardId, after, size)).records;
  const w: World = {
    name,
    catalog,
    spec,
    registry,
    journal,
    blobs,
    folder,
    sent,
    shards,
    async append(docs) {
      sent.push(...docs);
      await journal.append(
        COLLECTION,
        docs.map((doc) => ({
          hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
          doc,
        })),
      );
    },
    async persistAll(batch) {
      for (const s of shards)
        for (;;) {
          const records = await read(s, persisted[s], batch);
          if (records.length === 0) break;
          await persist.onBatch(decodeRecords(COLLECTION, records));
          persisted[s] = records[records.length - 1]?.sequenceNumber;
        }
    },
    history: (b = blobs) => ({ fragments: () => ({ blobs: b, folder }), journal }),
    async task(job, opts = {}) {
      const s = opts.spec ?? spec;
      const c = catalogWith({ [name]: s });
      return new MaterializeTask(
        s,
        c,
        registry,
        await PostgresMaterialization.create({ spec: s, catalog: c }),
        w.history(opts.blobs),
        job,
      );
    },
    lease: () =>
      new DynamoBackfillLease({
        client: clients.dynamodb,
        table: STATE_TABLE,
        materialization: name,
      }),
    async batches(shardId, size) {
      const out: DocBatch[] = [];
      let after: string | undefined;
      for (;;) {
        const records = await read(shardId, after, size);
        if (records.length === 0) return out;
        out.push(decodeRecords(COLLECTION, records));
        after = records[records.length - 1]?.sequenceNumber;
      }
    },
    async table() {
      const rows = await admin.query<{ order_id: string; qty: string }>(
        `SELECT order_id, qty FROM public.${table} ORDER BY order_id`,
      );
      return rows.rows.map((r) => [Number(r.order_id), Number(r.qty)]);
    },
    specAt,
    oracle() {
      const m = new Map<number, number>();
      for (const d of sent) m.set(d.id as number, (m.get(d.id as number) ?? 0) + (d.qty as number));
      return [...m].sort(([a], [b]) => a - b);
    },
  };
  return w;
}

const docs = (from: number, n: number): JsonObject[] =>
  Array.from({ length: n }, (_, i) => ({
    id: ((from + i) * 7) % 23,
    qty: from + i,
    customer: `c${from + i}`,
    _meta: { uuid: metaUuid(1_700_000_000_000 + from + i, 'acme/orders-capture', from + i) },
  }));

/** Append `n` documents as `n / per` journal records (one append each). */
async function fill(w: World, from: number, n: number, per = 5): Promise<void> {
  for (let i = from; i < from + n; i += per) await w.append(docs(i, Math.min(per, from + n - i)));
}

describe('the backfill lease (state table, conditional writes)', () => {
  it('one owner at a time; renewable by its owner; free again at expiry or release', async () => {
    let now = 1_000_000;
    const lease = new DynamoBackfillLease({
      client: clients.dynamodb,
      table: STATE_TABLE,
      materialization: 'acme/lease-test',
      now: () => now,
    });
    expect(await lease.acquire('a', 60_000)).toBe(true);
    expect(await lease.acquire('b', 60_000)).toBe(false);
    now += 30_000;
    expect(await lease.acquire('a', 60_000)).toBe(true); // renewed: now expires at +90 s
    now += 45_000;
    expect(await lease.acquire('b', 60_000)).toBe(false);
    await lease.release('b'); // not b's: nothing happens
    expect(await lease.acquire('b', 60_000)).toBe(false);
    now += 16_000; // a's lease expired
    expect(await lease.acquire('b', 60_000)).toBe(true);
    await lease.release('b');
    expect(await lease.acquire('a', 60_000)).toBe(true);
  });
});

describe('backfill as a job', () => {
  it('two instances cold-started together on a new binding: one backfills, the other waits, no error', async () => {
    const w = await world('orders_job_two');
    await fill(w, 0, 120);
    await w.persistAll(2);
    await fill(w, 120, 40); // in the journal only
    const job = { lease: w.lease(), pollMs: 50 };
    const [a, b] = [await w.task(job), await w.task(job)];
    const [s0, s1] = w.shards as [string, string];
    const batches0 = await w.batches(s0, 3);
    const batches1 = await w.batches(s1, 3);
    // Each shard's mapping starts its own instance; their first batches arrive together.
    await Promise.all([a.onBatch(batches0[0] as DocBatch), b.onBatch(batches1[0] as DocBatch)]);
    expect(a.backfills.length + b.backfills.length).toBe(1);
    const [leader, waiter] = a.backfills.length === 1 ? [a, b] : [b, a];
    expect(leader.backfills[0]?.docs).toBeGreaterThan(0);
    expect(waiter.stats.backfillWaits).toBeGreaterThan(0);
    for (const batch of batches0.slice(1)) await a.onBatch(batch);
    for (const batch of batches1.slice(1)) await b.onBatch(batch);
    await Promise.all([a.close(), b.close()]);
    expect(await w.table()).toEqual(w.oracle());
  });

  it('an instance that opened after a backfill that left no positions of its own, then a batch delivered again to the leader: nothing applied twice', async () => {
    // Nothing persisted yet: the backfill commits its markers and no position of the binding's own.
    const w = await world('orders_job_views');
    await fill(w, 0, 30);
    const job = { lease: w.lease(), pollMs: 50 };
    const [s0, s1] = w.shards as [string, string];
    const leader = await w.task(job);
    expect(await leader.runBackfillJob()).toBe(true);
    // A second instance cold-starts now, and applies shard 1's batch.
    const other = await w.task(job);
    const [first1] = await w.batches(s1, 100);
    await other.onBatch(first1 as DocBatch);
    for (const batch of await w.batches(s0, 100)) await leader.onBatch(batch);
    // Shard 1's checkpoint was lost (the poller died after the function returned): the batch comes again,
    // to the leader this time.
    await leader.onBatch(first1 as DocBatch);
    await Promise.all([leader.close(), other.close()]);
    expect(await w.table()).toEqual(w.oracle());
  });

  it('a backfill killed midway resumes from its progress without reading completed fragments again', async () => {
    const w = await world('orders_job_resume');
    await fill(w, 0, 150);
    await w.persistAll(2);
    await fill(w, 150, 30);
    const total = [...(await listFragments(w.blobs, w.folder)).values()].reduce((n, l) => n + l.length, 0);
    expect(total).toBeGreaterThan(10);
    const [s0, s1] = w.shards as [string, string];
    const batches = [...(await w.batches(s0, 4)), ...(await w.batches(s1, 4))];

    // The first instance dies after reading 6 fragments (Lambda killed mid-backfill).
    const first = counting(w.blobs);
    const killed = await w.task(
      {
        lease: w.lease(),
        faults: {
          beforeFragment: (_b, read) => {
            if (read === 6) throw new Error('killed');
          },
        },
      },
      { blobs: first },
    );
    await expect(killed.onBatch(batches[0] as DocBatch)).rejects.toThrow('killed');
    expect(first.reads).toHaveLength(6);
    await killed.close();

    // A fresh instance takes the (released) lease and continues after the 6 committed fragments.
    const second = counting(w.blobs);
    const resumed = await w.task({ lease: w.lease() }, { blobs: second });
    for (const batch of batches) await resumed.onBatch(batch);
    await resumed.close();
    expect(resumed.backfills[0]?.skipped).toBe(6);
    expect(second.reads.filter((k) => first.reads.includes(k))).toEqual([]);
    expect(first.reads.length + second.reads.length).toBe(total);
    expect(await w.table()).toEqual(w.oracle());
  });

  it('a backfill stopped by its deadline hands over: the batch fails as retryable and the next run continues', async () => {
    const w = await world('orders_job_deadline');
    await fill(w, 0, 60);
    await w.persistAll(2);
    const [s0, s1] = w.shards as [string, string];
    const batches = [...(await w.batches(s0, 4)), ...(await w.batches(s1, 4))];
    // A deadline that passes after 2 fragments (the reserve kept for the batch is 0 here).
    let reads = 0;
    const early = await w.task({
      lease: w.lease(),
      reserveMs: 0,
      deadline: () => (reads >= 3 ? Date.now() - 1 : Date.now() + 60_000),
      faults: {
        beforeFragment: () => {
          reads++;
        },
      },
    });
    await expect(early.onBatch(batches[0] as DocBatch)).rejects.toMatchObject({ code: 'BackfillInProgress' });
    // The scheduled job (no wait) reports "not done" instead of failing.
    expect(await early.runBackfillJob()).toBe(false);
    await early.close();
    const next = await w.task({ lease: w.lease() });
    expect(await next.runBackfillJob()).toBe(true);
    for (const batch of batches) await next.onBatch(batch);
    await next.close();
    expect(next.backfills[0]?.skipped).toBe(2);
    expect(await w.table()).toEqual(w.oracle());
  });

  it('re-backfill: the TRUNCATE is inside the fence, a stalled leader that wakes up late truncates nothing', async () => {
    const w = await world('orders_job_rebuilt');
    await fill(w, 0, 80);
    await w.persistAll(3);
    await fill(w, 80, 20);
    const [s0, s1] = w.shards as [string, string];
    const all = [...(await w.batches(s0, 5)), ...(await w.batches(s1, 5))];
    // Counter 0: backfilled, then every batch live.
    const t0 = await w.task({ lease: w.lease() });
    for (const batch of all) await t0.onBatch(batch);
    await t0.close();
    expect(await w.table()).toEqual(w.oracle());

    // Counter 1. The stalled instance takes the lease (short), reads its view, and stalls at its first
    // fragment until the other instance has rebuilt the whole table.
    const bumped = w.specAt(1);
    let rebuilt: () => void = () => {};
    const done = new Promise<void>((r) => {
      rebuilt = r;
    });
    let stalled: () => void = () => {};
    const inside = new Promise<void>((r) => {
      stalled = r;
    });
    const zombie = await w.task(
      {
        lease: w.lease(),
        leaseTtlMs: 150,
        faults: {
          beforeFragment: async (_b, read) => {
            if (read > 0) return;
            stalled();
            await done;
          },
        },
      },
      { spec: bumped },
    );
    const last = all[all.length - 1] as DocBatch;
    const z = zombie.onBatch(last);
    await inside;
    const fresh = await w.task({ lease: w.lease(), pollMs: 50 }, { spec: bumped });
    await fresh.onBatch(last);
    expect(fresh.backfills).toHaveLength(1);
    expect(await w.table()).toEqual(w.oracle());
    rebuilt();
    // The zombie's first commit (with its TRUNCATE) is fenced off; it re-opens, finds the binding
    // backfilled, and applies nothing twice.
    await z;
    expect(zombie.stats.reopened).toBeGreaterThanOrEqual(1);
    await Promise.all([zombie.close(), fresh.close()]);
    expect(await w.table()).toEqual(w.oracle());
  });
});
