/**
 * Captures exactly once (issue 9, item 4), on real parts: source-postgres-batch on an embedded PostgreSQL,
 * source-s3 and HTTP ingest, captured into a Kinesis journal (kinesalite) whose records the persist task
 * reduces into the collection's view in DynamoDB (dynalite), fragments in S3 (s3rver) — the view being a
 * sum of `qty` per `id`. A fault kills the poll after its append and before its cursor is saved (a poll
 * timing out there); the next poll reads the same rows or objects again, and the view must still equal the
 * oracle: the replayed documents carry the origins they had, so the persister drops them.
 */
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { MemoryBlobStore } from '../../shared/adapters/memory.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { HttpIngestCapture } from '../../shared/capture/http-ingest.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { streamNameFor } from '../../shared/config/env.ts';
import { redriveCapture } from '../../shared/connectors/capture-parking.ts';
import {
  appendCaptured,
  type CaptureRunOptions,
  captureStateKey,
  runPollingCapture,
} from '../../shared/connectors/capture-runner.ts';
import { PostgresBatchSource } from '../../shared/connectors/source-postgres-batch.ts';
import { type BlobStoreFactory, DONE_WINDOW_MS, S3Source } from '../../shared/connectors/source-s3.ts';
import { createDerivationRunner } from '../../shared/derive/load-module.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import type { Json } from '../../shared/json/types.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { PersistTask } from '../../shared/persist/task.ts';
import { type DocBatch, decodeRecords } from '../../shared/ports/events.ts';
import { ParkingLot, parkedInfo } from '../../shared/ports/parking.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { capture, catalogWith, ORDERS_SCHEMA_URI, ordersSchema } from './fixtures.ts';

const COLLECTION = 'acme/orders';

let server: PgServer;
let admin: pg.Client;
let emulators: Emulators;
let clients: AwsClients;
let blobs: BlobStoreFactory;
beforeAll(async () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  [server, stack] = await Promise.all([startPostgres(), startStack()]);
  ({ emulators, clients } = stack);
  blobs = (c) => new S3BlobStore({ client: clients.s3, bucket: c.bucket });
  admin = await server.client();
});
afterAll(async () => {
  await admin?.end();
  await Promise.all([server?.stop(), emulators?.stop()]);
});

/**
 * A collection's journal (a kinesalite stream of `shards` shards), its persister (reduced view in a
 * dynalite table, fragments in an s3rver bucket), and a way to deliver what is new to the persister.
 */
async function pipeline(catalog: BuiltCatalog, collectionName: string, shards: number) {
  const prefix = uniqueName('x1');
  const journal = new KinesisJournal({
    client: clients.kinesis,
    streamName: (c) => streamNameFor(prefix, c),
  });
  await journal.ensureStream(collectionName, shards);
  const state = new DynamoStateStore({ client: clients.dynamodb, table: `${prefix}-state` });
  await state.ensureTable();
  const fragments = new S3BlobStore({ client: clients.s3, bucket: `${prefix}-fragments` });
  await fragments.ensureBucket();
  const collection = catalog.collections[collectionName];
  if (!collection) throw new Error(`fixture: no collection ${collectionName}`);
  const registry = new SchemaRegistry(catalog.schemas);
  const persist = new PersistTask(collection, registry, fragments, state, `flow/${collectionName}/`);
  const after: Record<string, string | undefined> = {};
  return {
    journal,
    registry,
    /** Every record appended since the last call, per shard in order, through the persister. */
    async deliver(): Promise<void> {
      for (const s of await journal.listShards(collectionName)) {
        for (;;) {
          const r = await journal.read(collectionName, s.shardId, after[s.shardId], 100);
          if (r.records.length === 0) break;
          await persist.onBatch(decodeRecords(collectionName, r.records));
          after[s.shardId] = r.records[r.records.length - 1]?.sequenceNumber;
        }
      }
    },
    /** The reduced view: qty per id. */
    async view(): Promise<Record<string, number>> {
      const out: Record<string, number> = {};
      for await (const it of state.scan(collectionName)) {
        const d = it.doc as { id: number | string; qty: number };
        out[String(d.id)] = d.qty;
      }
      return out;
    },
  };
}

/** A fault injector: throws at `point` of the given rounds, as a crash (a timed-out invocation) there. */
function killAt(point: 'appended' | 'saved', rounds: number[]): CaptureRunOptions['fault'] {
  return (p, round) => {
    if (p === point && rounds.includes(round)) throw new Error(`injected crash ${p} in round ${round}`);
  };
}

describe('captures exactly once: a poll killed after its append and before its cursor save', () => {
  it('source-postgres-batch: the re-polled rows add nothing; later rows and updates do', async () => {
    await admin.query(`CREATE TABLE cap_orders (
      id BIGINT PRIMARY KEY, customer TEXT NOT NULL, qty INT NOT NULL, at TIMESTAMPTZ NOT NULL)`);
    const oracle: Record<number, number> = {};
    const insert = async (id: number, qty: number, at: string) => {
      await admin.query(`INSERT INTO cap_orders VALUES ($1, $2, $3, $4)`, [id, `c${id % 3}`, qty, at]);
      oracle[id] = (oracle[id] ?? 0) + qty;
    };
    // ties on the cursor, paged by the primary key (limit 3 ends inside the run of equal times)
    for (let id = 1; id <= 7; id++) await insert(id, id * 10, `2024-01-01T00:00:0${id < 5 ? 1 : id}Z`);

    const catalog = catalogWith({});
    const spec = capture(
      'acme/pg-cap',
      'source-postgres-batch',
      {
        address: server.address,
        user: server.user,
        password: server.password,
        database: server.database,
        advanced: server.advanced,
      },
      [{ name: 'cap_orders', cursor: ['at'], limit: 3 }],
    );
    if (spec.bindings[0]) spec.bindings[0].target = COLLECTION;
    const p = await pipeline(catalog, COLLECTION, 2);
    const stateStore = new MemoryBlobStore();
    const opts: CaptureRunOptions = { spec, catalog, registry: p.registry, journal: p.journal, stateStore };
    let clock = Date.parse('2024-06-01T00:00:00Z');
    const src = await PostgresBatchSource.create({ spec, now: () => clock++ });

    // round 1 saves its cursor (3 rows), round 2 appends 3 more and is killed before its save
    await expect(runPollingCapture(src, { ...opts, fault: killAt('appended', [2]) })).rejects.toThrow(
      'injected crash appended in round 2',
    );
    await p.deliver();
    // the re-poll reads rows 4–6 again (from round 1's cursor), then row 7
    expect(await runPollingCapture(src, opts)).toMatchObject({ docs: 4 });
    // a later update of a row already captured is a new version: applied (a sum adds it)
    await admin.query(`UPDATE cap_orders SET qty = 5, at = '2024-01-02T00:00:00Z' WHERE id = 2`);
    oracle[2] = (oracle[2] ?? 0) + 5;
    await insert(8, 80, '2024-01-03T00:00:00Z');
    // killed again after appending both, then re-polled once more
    await expect(runPollingCapture(src, { ...opts, fault: killAt('appended', [1]) })).rejects.toThrow();
    expect(await runPollingCapture(src, opts)).toMatchObject({ docs: 2 });
    await p.deliver();
    expect(await p.view()).toEqual(oracle);
    // and the cursor saved by the last poll is past row 8: nothing more to read
    expect(await stateStore.get(captureStateKey('acme/pg-cap'))).toBeDefined();
    expect(await runPollingCapture(src, opts)).toMatchObject({ docs: 0 });
    await src.close();
  });

  it("source-postgres-batch: the capture's very first poll killed after its append: the copies have the same uuids", async () => {
    // An integer cursor: the uuid time comes from the state, which the runner saves before the first poll.
    // (A backfill from fragments drops re-read copies by uuid: fragments do not keep origins.)
    await admin.query(`CREATE TABLE first_poll (id INT PRIMARY KEY, qty INT NOT NULL)`);
    await admin.query(`INSERT INTO first_poll SELECT g, g FROM generate_series(1, 5) g`);
    const catalog = catalogWith({});
    const spec = capture(
      'acme/pg-first',
      'source-postgres-batch',
      {
        address: server.address,
        user: server.user,
        password: server.password,
        database: server.database,
        advanced: server.advanced,
      },
      [{ name: 'first_poll', cursor: ['id'] }],
    );
    if (spec.bindings[0]) spec.bindings[0].target = COLLECTION;
    const p = await pipeline(catalog, COLLECTION, 2);
    const opts: CaptureRunOptions = {
      spec,
      catalog,
      registry: p.registry,
      journal: p.journal,
      stateStore: new MemoryBlobStore(),
    };
    let clock = 1_700_000_000_000;
    const src = await PostgresBatchSource.create({ spec, now: () => (clock += 1000) });
    await expect(runPollingCapture(src, { ...opts, fault: killAt('appended', [1]) })).rejects.toThrow();
    await runPollingCapture(src, opts);
    const copies = new Map<number, string[]>();
    for (const s of await p.journal.listShards(COLLECTION)) {
      const r = await p.journal.read(COLLECTION, s.shardId, undefined, 100);
      for (const d of decodeRecords(COLLECTION, r.records).docs) {
        const doc = d.doc as { id: number; _meta: { uuid: string } };
        copies.set(doc.id, [...(copies.get(doc.id) ?? []), doc._meta.uuid]);
      }
    }
    expect([...copies.keys()].sort()).toEqual([1, 2, 3, 4, 5]);
    for (const uuids of copies.values()) {
      expect(uuids).toHaveLength(2); // appended twice
      expect(new Set(uuids).size).toBe(1); // with one uuid
    }
    await p.deliver();
    expect(await p.view()).toEqual({ 1: 1, 2: 2, 3: 3, 4: 4, 5: 5 });
    await src.close();
  });

  it('source-s3: an object read again (a killed poll, a redelivered event) adds nothing', async () => {
    const landing = new S3BlobStore({ client: clients.s3, bucket: 'landing-exactly-once' });
    await landing.ensureBucket();
    const catalog = catalogWith({});
    const spec = capture(
      'acme/s3-cap',
      'source-s3',
      { bucket: 'landing-exactly-once', prefix: 'in/', parser: { format: { type: 'jsonl' } } },
      [{ stream: '' }],
    );
    if (spec.bindings[0]) spec.bindings[0].target = COLLECTION;
    const p = await pipeline(catalog, COLLECTION, 2);
    const stateStore = new MemoryBlobStore();
    const opts: CaptureRunOptions = { spec, catalog, registry: p.registry, journal: p.journal, stateStore };
    const src = await S3Source.create({ spec, blobs });
    const oracle: Record<number, number> = {};
    const put = async (key: string, rows: [number, number][]) => {
      await landing.put(key, Buffer.from(rows.map(([id, qty]) => `{"id":${id},"qty":${qty}}\n`).join('')));
      for (const [id, qty] of rows) oracle[id] = (oracle[id] ?? 0) + qty;
    };
    await put('in/a.jsonl', [
      [1, 2],
      [2, 3],
    ]);
    await put('in/b.jsonl', [
      [1, 4],
      [3, 5],
    ]);
    await expect(runPollingCapture(src, { ...opts, fault: killAt('appended', [1]) })).rejects.toThrow();
    await p.deliver();
    expect(await runPollingCapture(src, opts)).toMatchObject({ docs: 4 });
    // an "Object Created" event for b.jsonl delivered (again) after the poll read it
    await appendCaptured(opts, await src.readObjects(['in/b.jsonl']), 'in/b.jsonl@1');
    // b.jsonl overwritten with other content: a new object, read in full
    await put('in/b.jsonl', [[3, 1]]);
    await appendCaptured(opts, await src.readObjects(['in/b.jsonl']), 'in/b.jsonl@2');
    await p.deliver();
    expect(await p.view()).toEqual(oracle);
  });
});

describe("source-s3's list of objects read stays bounded", () => {
  it('keeps only keys within DONE_WINDOW_MS of the newest object, and never reads an older object again', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const landing = new MemoryBlobStore(() => now);
    const spec = capture(
      'acme/files',
      'source-s3',
      { bucket: 'landing', prefix: 'in/', parser: { format: { type: 'jsonl' } } },
      [{ stream: '' }],
    );
    const src = await S3Source.create({ spec, blobs: () => landing });
    let state: Json | undefined;
    let read = 0;
    const sizes: number[] = [];
    // 10 days of hourly objects, keys in random (not time) order, polled every hour
    for (let h = 0; h < 240; h++) {
      await landing.put(`in/${(h * 7919) % 1000}-${h}.jsonl`, Buffer.from(`{"id":${h},"qty":1}\n`));
      now += 3600_000;
      const r = await src.poll(state);
      read += r.docs.length;
      state = r.state;
      sizes.push(((state as { done: Record<string, string[]> }).done[''] ?? []).length);
    }
    expect(read).toBe(240); // every object once
    // the list holds about a window of objects (24 hourly ones, plus the one at its edge), not 240
    expect(Math.max(...sizes)).toBeLessThanOrEqual(DONE_WINDOW_MS / 3600_000 + 1);
    expect(sizes[sizes.length - 1]).toBeLessThanOrEqual(DONE_WINDOW_MS / 3600_000 + 1);
    // an object not yet read is never dropped: with one object per poll, the rest wait in the bucket
    const limited = await S3Source.create({ spec, blobs: () => landing, maxObjectsPerPoll: 1 });
    let st: Json | undefined;
    let n = 0;
    for (let i = 0; i < 240; i++) {
      const r = await limited.poll(st);
      n += r.docs.length;
      st = r.state;
    }
    expect(n).toBe(240);
    expect((await limited.poll(st)).docs).toEqual([]);
  });
});

describe('source-s3: an object overwritten under its key', () => {
  it('is read again by the next poll, as Estuary re-reads an object modified since; unchanged ones are not', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const landing = new MemoryBlobStore(() => now);
    const spec = capture(
      'acme/files',
      'source-s3',
      { bucket: 'landing', prefix: 'in/', parser: { format: { type: 'jsonl' } } },
      [{ stream: '' }],
    );
    const src = await S3Source.create({ spec, blobs: () => landing });
    await landing.put('in/a.jsonl', Buffer.from('{"id":1,"qty":1}\n'));
    await landing.put('in/b.jsonl', Buffer.from('{"id":2,"qty":1}\n'));
    const first = await src.poll(undefined);
    expect(first.docs.map((d) => d.doc.id)).toEqual([1, 2]);
    now += 60_000;
    await landing.put('in/a.jsonl', Buffer.from('{"id":1,"qty":5}\n'));
    const second = await src.poll(first.state);
    expect(second.docs.map((d) => [d.doc.id, d.doc.qty])).toEqual([[1, 5]]);
    // Its content is another source: not dropped as a replay of the first version.
    expect(second.docs[0].origin?.source).not.toBe(first.docs[0].origin?.source);
    expect((await src.poll(second.state)).docs).toEqual([]);
    // State saved before `seen` existed: its keys are not read again, and count from then on.
    const { seen: _seen, ...old } = second.state as { seen: unknown };
    expect((await src.poll(old as Json)).docs).toEqual([]);
  });
});

describe('source-http-ingest: a retried request', () => {
  /** Rows of test/orders (fixture): a sum of qty per id. */
  const body = JSON.stringify([
    { id: 'a', qty: 1 },
    { id: 'b', qty: 2 },
    { id: 'c', qty: 3 },
    { id: 'd', qty: 4 },
    { id: 'a', qty: 10 },
  ]);
  const oracle = { a: 11, b: 2, c: 3, d: 4 };

  async function ingestPipeline(idFromHeader: string | undefined) {
    const loaded = await loadCatalog(
      fileURLToPath(new URL('../fixtures/localstack/ingest/flow.yaml', import.meta.url)),
    );
    const catalog = loaded.catalog;
    if (!catalog) throw new Error(JSON.stringify(loaded.diagnostics));
    const base = catalog.captures['test/webhooks'];
    const orders = base?.bindings.find((b) => b.target === 'test/orders');
    if (!base || !orders) throw new Error('fixture');
    const resource = { path: '/orders', ...(idFromHeader ? { idFromHeader } : {}) };
    const spec = { ...base, bindings: [{ ...orders, resource }] };
    const p = await pipeline(catalog, 'test/orders', 4);
    const journal = p.journal;
    // A partial multi-shard append: the first call stores the documents of one shard, then fails (a 502).
    let failNext = true;
    const flaky = Object.create(journal) as KinesisJournal;
    flaky.append = async (collection, docs) => {
      if (!failNext) return journal.append(collection, docs);
      failNext = false;
      const first = (await journal.listShards(collection)).find((s) => s.startingHashKey === '0');
      const end = BigInt(first?.endingHashKey ?? '0');
      const part = docs.filter((d) => BigInt(d.hashKey) <= end);
      if (part.length === 0 || part.length === docs.length)
        throw new Error('fixture: the documents must span shards');
      await journal.append(collection, part);
      throw new Error('injected: PutRecords failed for the other shards');
    };
    const cap = new HttpIngestCapture(spec, catalog, p.registry, flaky, {});
    const view = async () => {
      await p.deliver();
      return p.view();
    };
    const post = (headers: Record<string, string>, text = body) =>
      cap.handle({
        method: 'POST',
        path: '/test/webhooks/orders',
        headers: { authorization: 'Bearer s3cret', ...headers },
        query: {},
        body: Buffer.from(text),
      });
    return { post, view };
  }

  it('with idFromHeader, the retry after a partial multi-shard append (502) adds nothing', async () => {
    const p = await ingestPipeline('Idempotency-Key');
    await expect(p.post({ 'Idempotency-Key': 'req-1' })).rejects.toThrow('injected');
    expect((await p.post({ 'Idempotency-Key': 'req-1' })).status).toBe(200);
    // the client retries once more, although it got its 200
    expect((await p.post({ 'Idempotency-Key': 'req-1' })).status).toBe(200);
    expect(await p.view()).toEqual(oracle);
  });

  it('with idFromHeader, another body under the same id is another request, downstream too (ids repeat: X-GitHub-Event)', async () => {
    const p = await ingestPipeline('X-GitHub-Event');
    await expect(p.post({ 'X-GitHub-Event': 'push' })).rejects.toThrow('injected');
    expect((await p.post({ 'X-GitHub-Event': 'push' })).status).toBe(200);
    // The same id with other documents: not a retry. It was dropped as one, by the persister and derivations.
    expect((await p.post({ 'X-GitHub-Event': 'push' }, JSON.stringify([{ id: 'a', qty: 100 }]))).status).toBe(
      200,
    );
    expect(await p.view()).toEqual({ ...oracle, a: oracle.a + 100 });
  });

  it('without idFromHeader a retry is a new request: its documents count again (as in Estuary)', async () => {
    const p = await ingestPipeline(undefined);
    await expect(p.post({})).rejects.toThrow('injected');
    expect((await p.post({})).status).toBe(200);
    const v = await p.view();
    expect(v).not.toEqual(oracle);
    // what reached a shard before the failure is there twice
    expect(Object.entries(v).some(([id, qty]) => qty === 2 * oracle[id as keyof typeof oracle])).toBe(true);
  });
});

describe('captures exactly once, downstream of derivations', () => {
  it('a re-poll after a killed poll, with a row updated in between, gives sums equal to the oracle two derivations down', async () => {
    // chain.yaml: chain/events → derivation chain/lines (one line per event) → derivation chain/sums
    // (count and total per user, summed); here chain/events is captured from PostgreSQL.
    const loaded = await loadCatalog(
      fileURLToPath(new URL('../fixtures/localstack/chain.yaml', import.meta.url)),
    );
    const catalog = loaded.catalog;
    if (!catalog) throw new Error(JSON.stringify(loaded.diagnostics));
    const registry = new SchemaRegistry(catalog.schemas);
    const prefix = uniqueName('x2');
    const journal = new KinesisJournal({
      client: clients.kinesis,
      streamName: (c) => streamNameFor(prefix, c),
    });
    for (const c of ['chain/events', 'chain/lines', 'chain/sums']) await journal.ensureStream(c, 2);
    const state = new DynamoStateStore({ client: clients.dynamodb, table: `${prefix}-state` });
    await state.ensureTable();
    const fragments = new S3BlobStore({ client: clients.s3, bucket: `${prefix}-fragments` });
    await fragments.ensureBucket();
    const derive = async (name: string) =>
      new DeriveTask(
        catalog.collections[name]!,
        await createDerivationRunner(catalog, registry, name),
        journal,
        catalog,
        { watermarks: state },
      );
    const lines = await derive('chain/lines');
    const sums = await derive('chain/sums');
    const persist = new PersistTask(
      catalog.collections['chain/sums']!,
      registry,
      fragments,
      state,
      'flow/sums/',
    );
    const after: Record<string, string | undefined> = {};
    /** Every new record of `collection`, one shard per batch in order (as the mapping delivers them). */
    const deliver = async (collection: string, onBatch: (b: DocBatch) => Promise<unknown>) => {
      for (const s of await journal.listShards(collection)) {
        const at = `${collection}/${s.shardId}`;
        for (;;) {
          const r = await journal.read(collection, s.shardId, after[at], 100);
          if (r.records.length === 0) break;
          await onBatch(decodeRecords(collection, r.records));
          after[at] = r.records[r.records.length - 1]?.sequenceNumber;
        }
      }
    };
    const flow = async () => {
      await deliver('chain/events', (b) => lines.onBatch(b));
      await deliver('chain/lines', (b) => sums.onBatch(b));
      await deliver('chain/sums', (b) => persist.onBatch(b));
    };

    await admin.query(
      `CREATE TABLE chain_events (id TEXT PRIMARY KEY, "user" TEXT NOT NULL, amount INT NOT NULL, at TIMESTAMPTZ NOT NULL)`,
    );
    const captured: { user: string; amount: number }[] = [];
    const write = async (id: string, user: string, amount: number, at: string) => {
      await admin.query(
        `INSERT INTO chain_events VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET "user" = $2, amount = $3, at = $4`,
        [id, user, amount, at],
      );
      captured.push({ user, amount }); // every row version is captured once: the oracle sums them all
    };
    for (let i = 1; i <= 9; i++)
      await write(`e${i}`, `u${i % 3}`, i, `2024-01-01T00:00:0${Math.ceil(i / 2)}Z`);
    const spec = capture(
      'chain/pg',
      'source-postgres-batch',
      {
        address: server.address,
        user: server.user,
        password: server.password,
        database: server.database,
        advanced: server.advanced,
      },
      [{ name: 'chain_events', cursor: ['at'], limit: 3 }],
    );
    if (spec.bindings[0]) spec.bindings[0].target = 'chain/events';
    const opts: CaptureRunOptions = { spec, catalog, registry, journal, stateStore: new MemoryBlobStore() };
    const src = await PostgresBatchSource.create({ spec });
    // round 1 (e1–e3) saves its cursor; round 2 appends e4–e6 and is killed before its save
    await expect(runPollingCapture(src, { ...opts, fault: killAt('appended', [2]) })).rejects.toThrow();
    await flow();
    // e4, already captured, is updated before the re-poll: its new version comes after e9 in poll order,
    // while e5 and e6 are read again where they were
    await write('e4', 'u1', 40, '2024-01-02T00:00:00Z');
    expect(await runPollingCapture(src, opts)).toMatchObject({ docs: 6 }); // e5–e9, e4'
    await flow();
    const oracle: Record<string, { count: number; total: number }> = {};
    for (const { user, amount } of captured) {
      oracle[user] ??= { count: 0, total: 0 };
      oracle[user].count++;
      oracle[user].total += amount;
    }
    const view: Record<string, { count: number; total: number }> = {};
    for await (const it of state.scan('chain/sums')) {
      const d = it.doc as { user: string; count: number; total: number };
      view[d.user] = { count: d.count, total: d.total };
    }
    expect(view).toEqual(oracle);
    expect(lines.stats.docsSkipped).toBeGreaterThan(0); // the re-polled e5, e6 were dropped by the derivation
    await src.close();
  });
});

/**
 * Captures under park: a source-s3 capture of the bucket `landing-<name>` into the orders pipeline, whose
 * schema takes qty up to 100 until `fix()` widens it (and drops the `advanced` limits); its parking lot
 * in memory; where each document of an id was appended (`<source>@<position>`, every copy).
 */
async function parkFixture(name: string, advanced: Json = {}) {
  const landing = new S3BlobStore({ client: clients.s3, bucket: `landing-${name}` });
  await landing.ensureBucket();
  const strict = catalogWith({});
  const base = ordersSchema as { properties: Record<string, Json> };
  strict.schemas[ORDERS_SCHEMA_URI] = {
    ...base,
    properties: { ...base.properties, qty: { type: 'integer', maximum: 100, reduce: { strategy: 'sum' } } },
  } as Json;
  const specOf = (adv: Json) => {
    const config = {
      bucket: `landing-${name}`,
      prefix: 'in/',
      parser: { format: { type: 'jsonl' } },
      advanced: adv,
    };
    const spec = capture(`acme/${name}`, 'source-s3', config, [{ stream: '' }]);
    if (spec.bindings[0]) spec.bindings[0].target = COLLECTION;
    return spec;
  };
  const spec = specOf(advanced);
  const p = await pipeline(strict, COLLECTION, 2);
  const lot = new ParkingLot(
    new MemoryBlobStore(),
    `_sluice/parked/capture:acme/${name}/`,
    `capture:acme/${name}`,
  );
  const opts: CaptureRunOptions = {
    spec,
    catalog: strict,
    registry: new SchemaRegistry(strict.schemas),
    journal: p.journal,
    stateStore: new MemoryBlobStore(),
  };
  const src = await S3Source.create({ spec, blobs });
  const fix = async () => {
    const fixedSpec = specOf({});
    const fixed = catalogWith({});
    return {
      opts: {
        ...opts,
        spec: fixedSpec,
        catalog: fixed,
        registry: new SchemaRegistry(fixed.schemas),
        parking: lot,
      },
      src: await S3Source.create({ spec: fixedSpec, blobs: blobs }),
    };
  };
  const appendedAs = async (id: number): Promise<string[]> => {
    const out: string[] = [];
    for (const s of await p.journal.listShards(COLLECTION)) {
      const r = await p.journal.read(COLLECTION, s.shardId, undefined, 100);
      for (const d of decodeRecords(COLLECTION, r.records).docs)
        if ((d.doc as { id: number }).id === id) out.push(`${d.source}@${d.position}`);
    }
    return out;
  };
  return { landing, p, lot, opts, src, fix, appendedAs };
}

describe('captures under park: what cannot be appended is parked on its own, and redriven exactly once', () => {
  it('source-s3: a refused document, a malformed line and an unreadable object are parked; the rest flows; redrive appends each once after the fix', async () => {
    const { landing, p, lot, opts, src, fix, appendedAs } = await parkFixture('s3-park', {
      maxLineBytes: 40,
    });
    const parkedLog: string[] = [];
    await landing.put(
      'in/a.jsonl',
      Buffer.from('{"id":1,"qty":2}\n{"id":2,"qty":500}\n{"id":3,"qty":\n{"id":4,"qty":5}\n'),
    );
    // Its second line is longer than maxLineBytes (40): the whole object is unreadable under that limit.
    await landing.put(
      'in/long.jsonl',
      Buffer.from('{"id":5,"qty":1}\n{"id":6,"qty":7,"customer":"a long name here"}\n'),
    );

    // Halt (no parking place): the poll stops at the first of them, appends nothing, saves no state.
    await expect(runPollingCapture(src, opts)).rejects.toThrow(
      /a\.jsonl|long\.jsonl|SchemaViolation|maximum/,
    );
    expect(await opts.stateStore.get(captureStateKey('acme/s3-park'))).toBeUndefined();
    await p.deliver();
    expect(await p.view()).toEqual({});

    // Park: each of the three on its own; the other documents flow and the poll's state is saved.
    const parking = { ...opts, parking: lot, onParked: (x: { key: string }) => parkedLog.push(x.key) };
    expect(await runPollingCapture(src, parking)).toEqual({ docs: 2, parked: 3, rounds: 1 });
    await p.deliver();
    expect(await p.view()).toEqual({ 1: 2, 4: 5 });
    const parked = await lot.list();
    expect(parkedLog.sort()).toEqual(parked.map((x) => x.key).sort());
    const byPosition = Object.fromEntries(
      parked.map(({ parked: x }) => [`${x.capture?.file ?? ''}@${x.position}`, x]),
    );
    expect(Object.keys(byPosition).sort()).toEqual([
      '@000000000001',
      'in/a.jsonl@000000000002',
      'in/long.jsonl@object',
    ]);
    expect(byPosition['@000000000001']).toMatchObject({ doc: { id: 2, qty: 500 }, collection: COLLECTION });
    expect(byPosition['@000000000001']?.error).toMatch(/SchemaViolation|maximum/);
    expect(byPosition['in/a.jsonl@000000000002']).toMatchObject({
      doc: '{"id":3,"qty":',
      capture: { binding: 0, file: 'in/a.jsonl', unread: 'record' },
    });
    expect(byPosition['in/a.jsonl@000000000002']?.error).toMatch(
      /^SourceParseError: in\/a\.jsonl:3: invalid JSON/,
    );
    expect(byPosition['in/long.jsonl@object']?.error).toMatch(/line 2 is longer than 40 bytes/);
    // As `sluice parked` and the console say where they were.
    expect(parked.map((x) => parkedInfo(x.key, x.parked).where).sort()).toEqual([
      'in/a.jsonl record 2',
      // A parsed document names its object by its _meta/file, bucket first (as Estuary's filesource).
      'landing-s3-park/in/a.jsonl record 1',
      'object in/long.jsonl',
    ]);
    // Polled again: nothing new, nothing parked twice.
    expect(await runPollingCapture(src, parking)).toEqual({ docs: 0, parked: 0, rounds: 1 });

    // Redrive before the fix: each fails again and is kept with its count of attempts; nothing appended.
    expect(await redriveCapture(parking, lot, src)).toMatchObject({ redriven: 0, remaining: 3 });
    expect((await lot.list()).map((x) => x.parked.redriveAttempts)).toEqual([1, 1, 1]);
    // An event for a.jsonl delivered again: its good lines add nothing downstream, its bad ones are parked
    // already and stay as they are (not counted again, their failed redrives kept).
    expect(await appendCaptured(parking, await src.readObjects(['in/a.jsonl']), 'in/a.jsonl@2')).toEqual({
      docs: 2,
      parked: 0,
    });
    expect((await lot.list()).map((x) => x.parked.redriveAttempts)).toEqual([1, 1, 1]);

    // The fix: qty unbounded, lines up to the default length. The refused document and the object are
    // appended; the malformed line stays parked (nothing can parse it), with its error.
    const fixed = await fix();
    const fixedOpts = { ...fixed.opts, onParked: parking.onParked };
    const fixedSrc = fixed.src;
    const before = await lot.list();
    const result = await redriveCapture(fixedOpts, lot, fixedSrc);
    expect(result).toMatchObject({ redriven: 2, remaining: 1 });
    expect(result.failures.map((f) => f.error)).toEqual([
      expect.stringMatching(/in\/a\.jsonl:3: invalid JSON/),
    ]);
    // Appended at their own positions under their source's redrive twin: a consumer that applied line 4
    // of a.jsonl (a derivation's per-shard watermark) still applies line 2.
    expect(await appendedAs(2)).toEqual([
      expect.stringMatching(
        /^acme\/s3-park\/landing-s3-park\/in\/a\.jsonl#[0-9a-f]{16}#redrive@000000000001$/,
      ),
    ]);
    expect(await appendedAs(6)).toEqual([
      expect.stringMatching(/in\/long\.jsonl#[0-9a-f]{16}#redrive@000000000001$/),
    ]);
    // Appended twice (the poll and the redelivered event), with one origin.
    expect([...new Set(await appendedAs(4))]).toEqual([
      expect.stringMatching(/in\/a\.jsonl#[0-9a-f]{16}@000000000003$/),
    ]);
    await p.deliver();
    const oracle = { 1: 2, 2: 500, 4: 5, 5: 1, 6: 7 };
    expect(await p.view()).toEqual(oracle);
    // A crash between appending and removing them: the same records redriven again add nothing.
    for (const { parked: x } of before) await lot.put(x);
    expect(await redriveCapture(fixedOpts, lot, fixedSrc)).toMatchObject({ redriven: 2, remaining: 1 });
    await p.deliver();
    expect(await p.view()).toEqual(oracle);
    // The object overwritten since: its parked line no longer exists as it was; it says so and stays.
    await landing.put('in/a.jsonl', Buffer.from('{"id":3,"qty":3}\n'));
    const changed = await redriveCapture(fixedOpts, lot, fixedSrc);
    expect(changed.failures.map((f) => f.error)).toEqual([
      expect.stringMatching(/changed since it was parked/),
    ]);
  });
  it('a record behind one that fails again goes under a source of its own, the same after a crash mid-redrive', async () => {
    const { landing, p, lot, opts: halting, src, fix, appendedAs } = await parkFixture('s3-behind');
    const opts = { ...halting, parking: lot };
    // A malformed line first, then a document the schema refuses, then a good one.
    await landing.put('in/b.jsonl', Buffer.from('{"id":7,"qty":\n{"id":8,"qty":900}\n{"id":9,"qty":1}\n'));
    expect(await runPollingCapture(src, opts)).toMatchObject({ docs: 1, parked: 2 });
    const fixedOpts = (await fix()).opts;
    // The redrive dies after appending the refused document and before settling it in the lot.
    const settle = lot.settle.bind(lot);
    lot.settle = async () => {
      throw new Error('injected crash before the parked record is removed');
    };
    await expect(redriveCapture(fixedOpts, lot, src)).rejects.toThrow(/injected crash/);
    lot.settle = settle;
    const kept = (await lot.list()).find((x) => x.parked.position === '000000000001')?.parked;
    expect(kept?.capture?.redriveAlone).toBe('000000000001');
    expect(await redriveCapture(fixedOpts, lot, src)).toMatchObject({ redriven: 1, remaining: 1 });
    const copies = await appendedAs(8);
    // Appended twice (the crash), both times under the same source of its own: counted once.
    expect(copies).toHaveLength(2);
    expect(new Set(copies).size).toBe(1);
    expect(copies[0], copies[0]).toMatch(/in\/b\.jsonl#[0-9a-f]{16}#redrive:000000000001@000000000001$/);
    await p.deliver();
    expect(await p.view()).toEqual({ 8: 900, 9: 1 });
    // The malformed line stays parked, and could still follow under <source>#redrive.
    expect((await lot.list()).map((x) => x.parked.position)).toEqual(['000000000000']);
  });
  it('an object too large to read is parked whole by its size; redriven after the limit is raised, only at that size', async () => {
    const { landing, p, lot, opts, src, fix } = await parkFixture('s3-too-large', { maxObjectBytes: 100 });
    const lines = (ids: number[]) => Buffer.from(ids.map((id) => `{"id":${id},"qty":1}\n`).join(''));
    await landing.put('in/big.jsonl', lines([1, 2, 3, 4, 5, 6, 7]));
    await landing.put('in/big2.jsonl', lines([8, 9, 10, 11, 12, 13, 14]));
    expect(await runPollingCapture(src, { ...opts, parking: lot })).toMatchObject({ docs: 0, parked: 2 });
    expect((await lot.list()).map((x) => x.parked.source).sort()).toEqual([
      'acme/s3-too-large/landing-s3-too-large/in/big.jsonl#size:119',
      'acme/s3-too-large/landing-s3-too-large/in/big2.jsonl#size:124',
    ]);
    // big2.jsonl is replaced by other content (which its own event or a poll captures as a new source):
    // the parked one no longer exists as it was, and is not appended in its place.
    await landing.put('in/big2.jsonl', lines([15]));
    const fixed = await fix();
    const result = await redriveCapture(fixed.opts, lot, fixed.src);
    expect(result).toMatchObject({ redriven: 1, remaining: 1 });
    expect(result.failures[0]?.error).toMatch(/in\/big2\.jsonl is gone or changed since it was parked/);
    await p.deliver();
    expect(await p.view()).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1 });
  });
});
