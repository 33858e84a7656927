import { gunzipSync, gzipSync } from 'node:zlib';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore, DynamoTable, mapLimit } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { streamNameFor } from '../../shared/config/env.ts';
import { packKey } from '../../shared/keys/pack.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { encodePosition, evenRanges, misrouted, UsageMeter, unpackFrame } from '../../shared/ports/index.ts';
import { injectKinesisFaults, startStack, uniqueName } from '../integration/helpers.ts';

let emulators: Emulators;
let clients: AwsClients;
beforeAll(async () => {
  ({ emulators, clients } = await startStack());
});
afterAll(async () => {
  await emulators?.stop();
});

async function readAll(j: KinesisJournal, collection: string) {
  const docs: { shard: string; doc: unknown }[] = [];
  for (const s of await j.listShards(collection)) {
    let after: string | undefined;
    for (;;) {
      const r = await j.read(collection, s.shardId, after, 1000);
      for (const rec of r.records)
        for (const d of unpackFrame(rec.data)) docs.push({ shard: s.shardId, doc: d });
      if (r.records.length === 0) break;
      after = r.records.at(-1)!.sequenceNumber;
    }
  }
  return docs;
}

/**
 * A warm producer on a fresh stream `c` of `shards` shards: a journal of small records (200 bytes, so one
 * append sends several per shard) whose shard map a first append has cached. `reshard` sends a SplitShard
 * or MergeShards (given the stream's name, `stream`) and waits until the stream lists `total` shards.
 */
async function warmJournal(name: string, shards: number) {
  const prefix = uniqueName(name);
  const j = new KinesisJournal({
    client: clients.kinesis,
    streamName: (c) => streamNameFor(prefix, c),
    maxRecordBytes: 200,
  });
  await j.ensureStream('c', shards);
  const keyHash = (k: number) => hashOf(k, 16);
  await j.append('c', [{ hashKey: keyHash(0), doc: { k: 0, n: -1 } }]); // the map is now cached
  const reshard = async (send: (stream: string) => Promise<unknown>, total: number) => {
    await send(streamNameFor(prefix, 'c'));
    for (let i = 0; i < 50 && (await j.listShards('c')).length < total; i++)
      await new Promise((r) => setTimeout(r, 20));
  };
  return { j, keyHash, reshard, stream: streamNameFor(prefix, 'c') };
}

/** Hash keys spread over the whole 128-bit space. */
function hashOf(i: number, keys: number): string {
  const r = evenRanges(keys)[i % keys];
  return (r.start + 12345n).toString();
}

/** The stream holds documents `{k, n}` n = 0..count-1 each once, and each key k < keys in order of n. */
async function expectEachOnceInKeyOrder(j: KinesisJournal, count: number, keys: number) {
  const back = await readAll(j, 'c');
  const docs = back.map((b) => b.doc as { k: number; n: number });
  expect(docs.map((d) => d.n).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
  for (let k = 0; k < keys; k++) {
    const ns = docs.filter((d) => d.k === k).map((d) => d.n);
    expect(ns).toEqual([...ns].sort((a, b) => a - b));
  }
}

describe('KinesisJournal on kinesalite', () => {
  it('packs documents per shard, routes by hash key and keeps per-key order', async () => {
    const meter = new UsageMeter();
    const prefix = uniqueName('t');
    const j = new KinesisJournal({
      client: clients.kinesis,
      streamName: (c) => streamNameFor(prefix, c),
      meter,
    });
    await j.ensureStream('acme/events', 4);
    const docs = Array.from({ length: 2000 }, (_, i) => ({
      hashKey: hashOf(i, 16),
      doc: { k: i % 16, n: i },
    }));
    const res = await j.append('acme/events', docs);
    expect(res.docs).toBe(2000);
    expect(res.records).toBe(4); // one packed record per shard
    expect(meter.usage.kinesisRecords).toBe(4);
    const back = await readAll(j, 'acme/events');
    expect(back.length).toBe(2000);
    // Every key on exactly one shard, in append order.
    const byKey = new Map<number, { shards: Set<string>; ns: number[] }>();
    for (const { shard, doc } of back) {
      const d = doc as { k: number; n: number };
      const e = byKey.get(d.k) ?? { shards: new Set(), ns: [] };
      e.shards.add(shard);
      e.ns.push(d.n);
      byKey.set(d.k, e);
    }
    for (const e of byKey.values()) {
      expect(e.shards.size).toBe(1);
      expect(e.ns).toEqual([...e.ns].sort((a, b) => a - b));
    }
  });

  it('injected partial PutRecords failures and throttling lose nothing and double nothing (faults via SDK middleware)', async () => {
    const prefix = uniqueName('f');
    const client = (await import('../../shared/adapters/clients.ts')).makeClients({
      region: 'us-east-1',
      endpoints: emulators.endpoints,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    }).kinesis;
    let seed = 7;
    const faults = injectKinesisFaults(client, {
      failFraction: 0.3,
      throttleFraction: 0.2,
      random: () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      },
    });
    const j = new KinesisJournal({
      client,
      streamName: (c) => streamNameFor(prefix, c),
      baseBackoffMs: 1,
      maxRecordBytes: 2000, // many records per shard, so order across retries matters
    });
    await j.ensureStream('c', 3);
    const docs = Array.from({ length: 600 }, (_, i) => ({ hashKey: hashOf(i, 9), doc: { k: i % 9, n: i } }));
    await j.append('c', docs);
    expect(faults.injected.failedRecords + faults.injected.throttledCalls).toBeGreaterThan(0);
    expect(j.retries).toBeGreaterThan(0);
    await expectEachOnceInKeyOrder(j, docs.length, 9);
    client.destroy();
  });
});

describe('KinesisJournal when an answer is lost', () => {
  it('a PutRecords applied but answered with a 500 or a reset connection is not appended again: each document once, per-key order kept', async () => {
    const prefix = uniqueName('l');
    // The SDK's default retries (3 attempts), as functions run: it would re-send a lost answer's call.
    const client = (await import('../../shared/adapters/clients.ts')).makeClients({
      region: 'us-east-1',
      endpoints: emulators.endpoints,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    }).kinesis;
    // Of every seven calls: one refused with a 500, two applied and answered with a 500, one applied and
    // its connection reset.
    let calls = 0;
    const schedule = ['ok', 'applied-500', 'ok', 'reset', 'refused-500', 'applied-500', 'ok'];
    const injected = { appliedThen500: 0, appliedThenReset: 0, refused500: 0 };
    // Closest to the wire (after the SDK's retries and the journal's own middleware): Kinesis takes the
    // call, and the answer is replaced by an error; or the call fails before Kinesis sees it.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'PutRecordsCommand') return next(args);
        const x = schedule[calls++ % schedule.length];
        if (x === 'refused-500') {
          injected.refused500++;
          throw Object.assign(new Error('We encountered an internal error (injected)'), {
            name: 'InternalFailure',
            $metadata: { httpStatusCode: 500 },
          });
        }
        const result = await next(args);
        if (x === 'applied-500') {
          injected.appliedThen500++;
          throw Object.assign(new Error('We encountered an internal error (injected)'), {
            name: 'InternalFailure',
            $metadata: { httpStatusCode: 500 },
          });
        }
        if (x === 'reset') {
          injected.appliedThenReset++;
          throw Object.assign(new Error('socket hang up (injected)'), { code: 'ECONNRESET' });
        }
        return result;
      },
      { step: 'deserialize', name: 'sluiceTestLostAnswers' },
    );
    const j = new KinesisJournal({
      client,
      streamName: (c) => streamNameFor(prefix, c),
      baseBackoffMs: 1,
      maxRecordBytes: 200, // many records per shard (≈ 8 documents each), so order across retries matters
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
    });
    await j.ensureStream('c', 3);
    const docs = Array.from({ length: 600 }, (_, i) => ({ hashKey: hashOf(i, 9), doc: { k: i % 9, n: i } }));
    const res = await j.append('c', docs);
    expect(injected.appliedThen500).toBeGreaterThan(0);
    expect(injected.appliedThenReset).toBeGreaterThan(0);
    expect(injected.refused500).toBeGreaterThan(0);
    expect(j.settled).toBeGreaterThan(0);
    await expectEachOnceInKeyOrder(j, docs.length, 9);
    // The positions reported are those of the records in the stream, found ones included.
    expect(res.positions.reduce((n, p) => n + p.docs, 0)).toBe(600);
    const seqs = new Set<string>();
    for (const s of await j.listShards('c')) {
      for (const r of (await j.read('c', s.shardId, undefined, 10_000)).records) seqs.add(r.sequenceNumber);
    }
    expect(new Set(res.positions.map((p) => p.sequenceNumber))).toEqual(seqs);
    client.destroy();
  });
});

describe('DynamoStateStore on dynalite', () => {
  it('conditional writes: a replay with the old expectation is a conflict, scan is in key order', async () => {
    const meter = new UsageMeter();
    const s = new DynamoStateStore({ client: clients.dynamodb, table: uniqueName('state'), meter });
    await s.ensureTable();
    const p = (n: number) => encodePosition(String(n), 0);
    const keys = [Buffer.from([2]), Buffer.from([1, 9]), Buffer.from([1])];
    const w1 = await s.write(
      'c',
      keys.map((key, i) => ({ key, doc: { i }, expected: undefined, applied: { sh: p(10) } })),
    );
    expect(w1).toEqual({ written: 3, conflicts: [] });
    const replay = await s.write('c', [
      { key: keys[0], doc: { i: 99 }, expected: undefined, applied: { sh: p(10) } },
    ]);
    expect(replay.conflicts).toEqual(['02']);
    const loaded = await s.load('c', [keys[0], Buffer.from([7])]);
    expect(loaded.size).toBe(1);
    expect(loaded.get('02')).toEqual({ key: keys[0], doc: { i: 0 }, applied: { sh: p(10) } });
    const next = await s.write('c', [
      { key: keys[0], doc: undefined, expected: { sh: p(10) }, applied: { sh: p(11) } },
    ]);
    expect(next.written).toBe(1);
    const all: unknown[] = [];
    for await (const it of s.scan('c')) all.push(it.doc);
    expect(all).toEqual([{ i: 2 }, { i: 1 }]); // [1] < [1,9]; [2] deleted (tombstone hidden)
    expect(meter.usage.dynamoWriteUnits).toBe(5);
    await s.putCheckpoint('task', 'shard-1', p(5));
    await s.putCheckpoint('task', 'shard-1', p(4));
    expect(await s.getCheckpoint('task', 'shard-1')).toBe(p(5));
    expect(await s.getCheckpoint('task', 'shard-2')).toBeUndefined();
  });

  it('a key longer than the 1,024-byte sort key limit is stored under its hash, full key kept: load, replay and scan work', async () => {
    const s = new DynamoStateStore({ client: clients.dynamodb, table: uniqueName('state') });
    await s.ensureTable();
    const p = (n: number) => encodePosition(String(n), 0);
    const long = packKey(['x'.repeat(3000)]);
    const short = packKey(['a']);
    expect(long.length).toBeGreaterThan(1024);
    expect(
      (await s.write('c', [{ key: long, doc: { long: true }, expected: undefined, applied: { sh: p(1) } }]))
        .written,
    ).toBe(1);
    await s.write('c', [{ key: short, doc: { long: false }, expected: undefined, applied: { sh: p(1) } }]);
    // The same write again is a conflict (the conditional check sees the stored item), not a second item.
    expect(
      (await s.write('c', [{ key: long, doc: { long: true }, expected: undefined, applied: { sh: p(1) } }]))
        .conflicts,
    ).toEqual([long.toString('hex')]);
    const loaded = await s.load('c', [long]);
    expect(loaded.get(long.toString('hex'))).toEqual({
      key: long,
      doc: { long: true },
      applied: { sh: p(1) },
    });
    expect(
      (await s.write('c', [{ key: long, doc: { long: 2 }, expected: { sh: p(1) }, applied: { sh: p(2) } }]))
        .written,
    ).toBe(1);
    const all: { key: Buffer; doc: unknown }[] = [];
    for await (const it of s.scan('c')) all.push({ key: it.key, doc: it.doc });
    // Hashed keys come after the others in a scan.
    expect(all).toEqual([
      { key: short, doc: { long: false } },
      { key: long, doc: { long: 2 } },
    ]);
  });

  it('a tombstone carries a TTL (epoch seconds) when configured; a live document never does', async () => {
    const table = uniqueName('state');
    const s = new DynamoStateStore({
      client: clients.dynamodb,
      table,
      tombstoneTtlSeconds: 48 * 3600,
      nowSeconds: () => 1_800_000_000,
    });
    await s.ensureTable();
    const p = (n: number) => encodePosition(String(n), 0);
    await s.write('c', [
      { key: Buffer.from([1]), doc: undefined, expected: undefined, applied: { sh: p(1) } },
      { key: Buffer.from([2]), doc: { live: true }, expected: undefined, applied: { sh: p(1) } },
    ]);
    const item = async (k: number) =>
      (
        await clients.dynamodb.send(
          new GetItemCommand({ TableName: table, Key: { p: { S: 's#c' }, k: { B: Buffer.from([k]) } } }),
        )
      ).Item;
    expect((await item(1))?.ttl).toEqual({ N: String(1_800_000_000 + 48 * 3600) });
    expect((await item(2))?.ttl).toBeUndefined();
    // The tombstone still guards replays until it expires.
    expect((await s.load('c', [Buffer.from([1])])).get('01')?.applied).toEqual({ sh: p(1) });
  });

  it('DynamoTable puts, conditionally updates, gets and deletes JSON items', async () => {
    const t = new DynamoTable({
      client: clients.dynamodb,
      table: uniqueName('user'),
      partitionKey: { name: 'id', type: 'S' },
    });
    await t.ensure();
    expect(
      await t.put({ id: 'a', n: 1, m: { x: [true, null] }, v: 1 }, { attr: 'v', equals: undefined }),
    ).toBe(true);
    expect(await t.put({ id: 'a', n: 2, v: 2 }, { attr: 'v', equals: 5 })).toBe(false);
    expect(await t.batchGet([{ id: 'a' }, { id: 'zz' }])).toEqual([
      { id: 'a', n: 1, m: { x: [true, null] }, v: 1 },
    ]);
    expect(await t.delete({ id: 'a' })).toBe(true);
    expect(await t.scanAll()).toEqual([]);
  });
});

describe('S3BlobStore on s3rver', () => {
  it('puts, gets and lists objects byte for byte (no aws-chunked corruption), paging past 1,000 keys', async () => {
    const meter = new UsageMeter();
    const b = new S3BlobStore({ client: clients.s3, bucket: uniqueName('bucket'), meter });
    await b.ensureBucket();
    const body = gzipSync(Buffer.from('{"a":1}\n{"a":2}\n'));
    await b.put('p/c/pivot=shard-1/x.json.gz', body);
    expect(gunzipSync(Buffer.from((await b.get('p/c/pivot=shard-1/x.json.gz'))!)).toString()).toBe(
      '{"a":1}\n{"a":2}\n',
    );
    expect(await b.get('nope')).toBeUndefined();
    await mapLimit(
      Array.from({ length: 1005 }, (_, i) => i),
      32,
      (i) => b.put(`many/${String(i).padStart(4, '0')}`, Buffer.from('x')),
    );
    const keys = await b.list('many/');
    expect(keys.length).toBe(1005);
    expect(meter.usage.s3ListRequests).toBe(2);
  }, 60_000);
});

describe('resharding', () => {
  it('after SplitShard, new documents route to the children and the mapping finishes the parent first: per-key order holds', async () => {
    const { SplitShardCommand } = await import('@aws-sdk/client-kinesis');
    const { EventSourceMapping } = await import('../../shared/local/esm.ts');
    const { MemoryStateStore } = await import('../../shared/adapters/memory.ts');
    const { decodeEvent } = await import('../../shared/ports/events.ts');
    const prefix = uniqueName('split');
    const j = new KinesisJournal({ client: clients.kinesis, streamName: (c) => streamNameFor(prefix, c) });
    await j.ensureStream('c', 1);
    const keyHash = (k: number) => hashOf(k, 8);
    await j.append(
      'c',
      Array.from({ length: 40 }, (_, n) => ({ hashKey: keyHash(n % 8), doc: { k: n % 8, n } })),
    );
    const [parent] = await j.listShards('c');
    await clients.kinesis.send(
      new SplitShardCommand({
        StreamName: streamNameFor(prefix, 'c'),
        ShardToSplit: parent.shardId,
        NewStartingHashKey: (1n << 127n).toString(),
      }),
    );
    for (let i = 0; i < 50; i++) {
      const shards = await j.listShards('c');
      if (shards.length === 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await j.append(
      'c',
      Array.from({ length: 40 }, (_, n) => ({ hashKey: keyHash(n % 8), doc: { k: n % 8, n: 40 + n } })),
    );
    const shards = await j.listShards('c');
    expect(shards.filter((s) => s.closed).map((s) => s.shardId)).toEqual([parent.shardId]);
    const seen = new Map<number, number[]>();
    const esm = new EventSourceMapping({
      task: 't',
      collection: 'c',
      streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamNameFor(prefix, 'c')}`,
      journal: j,
      checkpoints: new MemoryStateStore(),
      handler: async (e) => {
        // As every task decodes (a record packed on the stale map, void, yields nothing).
        for (const { doc } of decodeEvent(e, 'c')) {
          const d = doc as { k: number; n: number };
          seen.set(d.k, [...(seen.get(d.k) ?? []), d.n]);
        }
      },
    });
    await esm.drain();
    await esm.drain();
    expect([...seen.values()].flat().length).toBe(80);
    for (const ns of seen.values()) expect(ns).toEqual([...ns].sort((a, b) => a - b));
  });

  it('a warm producer whose shard map went stale re-plans after the first mismatched put: that record is void, no other mixes the children', async () => {
    const { SplitShardCommand } = await import('@aws-sdk/client-kinesis');
    const { j, keyHash, reshard } = await warmJournal('stale', 1);
    const [parent] = await j.listShards('c');
    await reshard(
      (StreamName) =>
        clients.kinesis.send(
          new SplitShardCommand({
            StreamName,
            ShardToSplit: parent.shardId,
            NewStartingHashKey: (1n << 127n).toString(),
          }),
        ),
      3,
    );
    const res = await j.append(
      'c',
      Array.from({ length: 64 }, (_, n) => ({ hashKey: keyHash(n % 16), doc: { k: n % 16, n } })),
    );
    expect(res.docs).toBe(64);
    const children = (await j.listShards('c')).filter((s) => !s.closed);
    expect(children).toHaveLength(2);
    let records = 0;
    let mixed = 0;
    let docs = 0;
    let voided = 0;
    for (const child of children) {
      const lo = BigInt(child.startingHashKey);
      const hi = BigInt(child.endingHashKey);
      const read = await j.read('c', child.shardId, undefined, 1000);
      for (const r of read.records) {
        // Packed for the parent: consumers drop it, its documents were sent again.
        if (misrouted(r.partitionKey, child.shardId)) {
          voided++;
          continue;
        }
        records++;
        const ks = (unpackFrame(Buffer.from(r.data)) as { k: number }[]).map((d) => d.k);
        docs += ks.length;
        if (ks.some((k) => BigInt(keyHash(k)) < lo || BigInt(keyHash(k)) > hi)) mixed++;
      }
    }
    expect(docs).toBe(64);
    expect(records).toBeGreaterThan(4);
    // Only the first record sent on the stale map landed where it was not packed for; it is void, and
    // no record that counts mixes the children.
    expect(voided).toBe(1);
    expect(j.misrouted).toBe(1);
    expect(mixed).toBe(0);
  });

  it("a record packed on a stale map lands in one child with the other child's documents: consumers drop it and the producer sends them again, so per-key order holds while the children run at once", async () => {
    const { SplitShardCommand } = await import('@aws-sdk/client-kinesis');
    const { EventSourceMapping } = await import('../../shared/local/esm.ts');
    const { MemoryStateStore } = await import('../../shared/adapters/memory.ts');
    const { decodeEvent } = await import('../../shared/ports/events.ts');
    const { j, keyHash, reshard, stream } = await warmJournal('stale-order', 1);
    const [parent] = await j.listShards('c');
    const split = 1n << 127n;
    await reshard(
      (StreamName) =>
        clients.kinesis.send(
          new SplitShardCommand({
            StreamName,
            ShardToSplit: parent.shardId,
            NewStartingHashKey: split.toString(),
          }),
        ),
      3,
    );
    // The first append packs on the stale map (its first record, headed by key 0, lands in the low child
    // with high keys' documents); the second on the fresh one (high keys in the high child).
    const batch = (from: number) =>
      Array.from({ length: 64 }, (_, i) => ({ hashKey: keyHash(i % 16), doc: { k: i % 16, n: from + i } }));
    await j.append('c', batch(0));
    await j.append('c', batch(64));
    const low = (await j.listShards('c')).find((s) => !s.closed && BigInt(s.startingHashKey) < split)!;
    const seen = new Map<number, number[]>();
    const esm = new EventSourceMapping({
      task: 't',
      collection: 'c',
      streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/${stream}`,
      journal: j,
      checkpoints: new MemoryStateStore(),
      batchSize: 1000,
      handler: async (e) => {
        // The children are independent (Lambda reads them at once): the low one is slower here.
        if (e.Records[0].eventID.startsWith(`${low.shardId}:`)) await new Promise((r) => setTimeout(r, 300));
        for (const d of decodeEvent(e, 'c')) {
          const doc = d.doc as { k: number; n: number };
          seen.set(doc.k, [...(seen.get(doc.k) ?? []), doc.n]);
        }
      },
    });
    await esm.drain();
    await esm.drain();
    const all = [...seen.values()].flat().sort((a, b) => a - b);
    expect(all).toEqual([-1, ...Array.from({ length: 128 }, (_, i) => i)]);
    const outOfOrder = [...seen.entries()].filter(([, ns]) => ns.some((n, i) => i > 0 && n < ns[i - 1]));
    expect(outOfOrder.map(([k, ns]) => ({ k, ns }))).toEqual([]);
  });

  it('after MergeShards a stale map packs for both parents: their records are void, and the merged shard gets the documents again in append order', async () => {
    const { MergeShardsCommand } = await import('@aws-sdk/client-kinesis');
    const { j, keyHash, reshard } = await warmJournal('stale-merge', 2);
    const [a, b] = (await j.listShards('c')).sort((x, y) =>
      BigInt(x.startingHashKey) < BigInt(y.startingHashKey) ? -1 : 1,
    );
    await reshard(
      (StreamName) =>
        clients.kinesis.send(
          new MergeShardsCommand({ StreamName, ShardToMerge: a.shardId, AdjacentShardToMerge: b.shardId }),
        ),
      3,
    );
    // Keys alternate between the parents' halves: in append order, n increases across both.
    const res = await j.append(
      'c',
      Array.from({ length: 64 }, (_, n) => ({ hashKey: keyHash((n % 2) * 8 + (n % 8)), doc: { n } })),
    );
    expect(res.docs).toBe(64);
    const merged = (await j.listShards('c')).find((s) => !s.closed)!;
    const read = await j.read('c', merged.shardId, undefined, 1000);
    const ns = read.records
      .filter((r) => !misrouted(r.partitionKey, merged.shardId))
      .flatMap((r) => (unpackFrame(Buffer.from(r.data)) as { n: number }[]).map((d) => d.n));
    // One stream of documents, as appended: what a derivation's origin watermarks downstream rely on (a
    // document behind one of a later position from the same origin is skipped as already processed).
    expect(ns).toEqual(Array.from({ length: 64 }, (_, n) => n));
    expect(j.misrouted).toBe(2);
  });
});
