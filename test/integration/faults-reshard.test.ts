/**
 * Resharding under load: Kinesis on-demand streams split and merge shards on their own, and people run
 * SplitShard / MergeShards / UpdateShardCount. While events of many keys are ingested and the mappings
 * run, the source stream is split twice, then a derived stream once, and both are merged back; then every
 * store is compared with an oracle computed from what was sent:
 * - the reduced views (state table) and the DynamoDB materialization of all three collections: per key,
 *   the number of events (each exactly once) and the last `seq` (lastWriteWins: per-key order);
 * - a SQLite derivation and a stateful TypeScript derivation after it that flag every event of a key not
 *   following the previous one (`gaps`: out of order, doubled or lost), their state carried across the
 *   reshards;
 * - the S3 fragments: each event's count once.
 * kinesalite emulates SplitShard and MergeShards (not UpdateShardCount, which is a series of them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { misrouted, type ShardInfo } from '../../shared/ports/index.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { postJson } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/reshard/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

const KEYS = 48;
const ROUNDS = 24;

/** Per key: events sent and the last seq. */
type Oracle = Record<string, { count: number; last: number }>;

/** Round `r`'s events: 1 or 2 per key, each numbered by its key's running count. */
function round(r: number, oracle: Oracle): { key: string; seq: number; count: number }[] {
  const out: { key: string; seq: number; count: number }[] = [];
  for (let k = 0; k < KEYS; k++) {
    const key = `k${String(k).padStart(2, '0')}`;
    for (let i = 0; i < 1 + ((r + k) % 2); i++) {
      const o = oracle[key] ?? { count: 0, last: 0 };
      oracle[key] = o;
      o.count++;
      o.last = o.count;
      out.push({ key, seq: o.count, count: 1 });
    }
  }
  return out;
}

/** How a store differs from the oracle: keys missing or extra, events doubled or lost, wrong last seq, gaps. */
function differences(
  oracle: Oracle,
  got: Record<string, { count: number; last: number; gaps?: number }>,
): {
  missingKeys: number;
  extraKeys: number;
  doubled: number;
  lost: number;
  wrongLast: number;
  gaps: number;
} {
  const d = { missingKeys: 0, extraKeys: 0, doubled: 0, lost: 0, wrongLast: 0, gaps: 0 };
  for (const [key, o] of Object.entries(oracle)) {
    const g = got[key];
    if (!g) {
      d.missingKeys++;
      continue;
    }
    if (g.count > o.count) d.doubled += g.count - o.count;
    if (g.count < o.count) d.lost += o.count - g.count;
    if (g.last !== o.last) d.wrongLast++;
    d.gaps += g.gaps ?? 0;
  }
  d.extraKeys = Object.keys(got).filter((k) => !oracle[k]).length;
  return d;
}

const CLEAN = { missingKeys: 0, extraKeys: 0, doubled: 0, lost: 0, wrongLast: 0, gaps: 0 };

async function viewOf(runner: AssemblyRunner, collection: string) {
  const store = new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
  const out: Record<string, { count: number; last: number; gaps?: number }> = {};
  for await (const it of store.scan(collection)) {
    const d = it.doc as {
      key: string;
      count?: number;
      seq?: number;
      n?: number;
      last?: number;
      gaps?: number;
    };
    out[d.key] = { count: d.count ?? d.n ?? 0, last: d.seq ?? d.last ?? 0, gaps: d.gaps };
  }
  return out;
}

async function materialized(runner: AssemblyRunner, binding: number) {
  const c = new DynamoDbConnector({
    spec: fixture.catalog.materializations['rs/to-dynamo'],
    catalog: fixture.catalog,
    client: runner.admin.dynamodb,
  });
  const out: Record<string, { count: number; last: number; gaps?: number }> = {};
  for (const i of await c.items(binding)) {
    const d = i as { key: string; count?: number; seq?: number; n?: number; last?: number; gaps?: number };
    out[d.key] = { count: d.count ?? d.n ?? 0, last: d.seq ?? d.last ?? 0, gaps: d.gaps };
  }
  return out;
}

/** Per key, the counts summed over a collection's S3 fragments (`count` or `n`). */
async function fragmentCounts(runner: AssemblyRunner, collection: string): Promise<Record<string, number>> {
  const place = runner.resources.fragments[collection];
  const blobs = new S3BlobStore({ client: runner.admin.s3, bucket: place.bucket });
  const out: Record<string, number> = {};
  for (const k of await blobs.list(place.folder))
    for (const line of gunzipSync(Buffer.from((await blobs.get(k))!))
      .toString()
      .trim()
      .split('\n')) {
      const d = JSON.parse(line) as { key: string; count?: number; n?: number };
      out[d.key] = (out[d.key] ?? 0) + (d.count ?? d.n ?? 0);
    }
  return out;
}

/** Records of a stream packed for another shard than the one they are in (void: consumers drop them). */
async function voidRecords(streams: KinesisJournal, stream: string): Promise<number> {
  let n = 0;
  for (const s of await streams.listShards(stream)) {
    let after: string | undefined;
    for (;;) {
      const r = await streams.read(stream, s.shardId, after, 10_000);
      n += r.records.filter((x) => misrouted(x.partitionKey, s.shardId)).length;
      if (r.records.length === 0) break;
      after = r.records.at(-1)!.sequenceNumber;
    }
  }
  return n;
}

async function openShards(streams: KinesisJournal, stream: string, count: number): Promise<ShardInfo[]> {
  for (let i = 0; i < 200; i++) {
    const open = (await streams.listShards(stream)).filter((s) => !s.closed);
    if (open.length === count)
      return open.sort((a, b) => (BigInt(a.startingHashKey) < BigInt(b.startingHashKey) ? -1 : 1));
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${stream} did not reach ${count} open shards`);
}

describe('resharding while documents flow', () => {
  it('split and merge of the source and of a derived stream: every store equals the oracle, per-key order and derivation state hold', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-reshard-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(FIXTURE, { dataDir, shards: 2 });
    cleanup.push(() => runner.stop());
    const names = runner.resources.streams;
    const streams = new KinesisJournal({ client: runner.admin.kinesis, streamName: (s) => s });
    const kinesis = runner.admin.kinesis;
    const split = async (collection: string, shard: ShardInfo) => {
      const mid = (BigInt(shard.startingHashKey) + BigInt(shard.endingHashKey)) / 2n;
      await kinesis.send(
        new SplitShardCommand({
          StreamName: names[collection],
          ShardToSplit: shard.shardId,
          NewStartingHashKey: mid.toString(),
        }),
      );
    };
    const merge = async (collection: string, a: ShardInfo, b: ShardInfo) => {
      await kinesis.send(
        new MergeShardsCommand({
          StreamName: names[collection],
          ShardToMerge: a.shardId,
          AdjacentShardToMerge: b.shardId,
        }),
      );
    };
    // What each round does after its ingest (the mappings run meanwhile).
    const events = names['rs/events'];
    const steps = names['rs/steps'];
    const reshard: Record<number, () => Promise<void>> = {
      3: async () => {
        const [a] = await openShards(streams, events, 2);
        await split('rs/events', a);
        await openShards(streams, events, 3);
      },
      7: async () => {
        const [a] = await openShards(streams, steps, 2);
        await split('rs/steps', a);
        await openShards(streams, steps, 3);
      },
      11: async () => {
        const open = await openShards(streams, events, 3);
        await split('rs/events', open[2]);
        await openShards(streams, events, 4);
      },
      15: async () => {
        // The two children of the first split, merged back.
        const [a, b] = await openShards(streams, events, 4);
        await merge('rs/events', a, b);
        await openShards(streams, events, 3);
      },
      19: async () => {
        const [a, b] = await openShards(streams, steps, 3);
        await merge('rs/steps', a, b);
        await openShards(streams, steps, 2);
      },
    };
    const oracle: Oracle = {};
    runner.run();
    for (let r = 0; r < ROUNDS; r++) {
      expect(await postJson(`${runner.ingestUrl}/rs/ingest/events`, round(r, oracle))).toBe(200);
      await reshard[r]?.();
      await new Promise((res) => setTimeout(res, 150));
    }
    await runner.drain();
    await runner.drain();

    const report = {
      eventsView: differences(oracle, await viewOf(runner, 'rs/events')),
      stepsView: differences(oracle, await viewOf(runner, 'rs/steps')),
      echoView: differences(oracle, await viewOf(runner, 'rs/echo')),
      eventsTable: differences(oracle, await materialized(runner, 0)),
      stepsTable: differences(oracle, await materialized(runner, 1)),
      echoTable: differences(oracle, await materialized(runner, 2)),
    };
    const fragments = {
      events: await fragmentCounts(runner, 'rs/events'),
      steps: await fragmentCounts(runner, 'rs/steps'),
    };
    const expectedCounts = Object.fromEntries(Object.entries(oracle).map(([k, o]) => [k, o.count]));
    const voided = { events: await voidRecords(streams, events), steps: await voidRecords(streams, steps) };
    process.stderr.write(`reshard probe: ${JSON.stringify({ report, voided })}\n`);
    expect(report).toEqual({
      eventsView: CLEAN,
      stepsView: CLEAN,
      echoView: CLEAN,
      eventsTable: CLEAN,
      stepsTable: CLEAN,
      echoTable: CLEAN,
    });
    expect(fragments.events).toEqual(expectedCounts);
    expect(fragments.steps).toEqual(expectedCounts);
    // The ingest function did pack on stale maps (its shard map is cached for a minute): records landed in
    // a shard they were not packed for, void, their documents sent again. (The derivation's appends to
    // rs/steps usually do too, unless a cold instance with a fresh map took the next batch.)
    expect(voided.events).toBeGreaterThan(0);
    // The reshards happened: both streams have closed shards, and nothing failed on the way.
    expect((await streams.listShards(events)).filter((s) => s.closed).length).toBe(4);
    expect((await streams.listShards(steps)).filter((s) => s.closed).length).toBe(3);
    for (const t of runner.tasks) expect(t.metrics.TaskErrors ?? 0, t.label).toBe(0);
    // The derivations read their input streams' lineage (ListShards) within their roles.
    expect(runner.denied).toEqual([]);
  });
});
