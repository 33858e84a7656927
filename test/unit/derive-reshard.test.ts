// Origin watermarks across a reshard of a derivation's input stream (kinesalite): an upstream derivation
// that replays after its output stream was split (or merged) re-publishes copies that land in the child
// shard; the downstream derivation must still know them as copies. A child's watermarks start from its
// parents' (ports/state.ts inheritMarks).
import { join } from 'node:path';
import { MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { MemoryStateStore } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { streamNameFor } from '../../shared/config/env.ts';
import { createDerivationRunner } from '../../shared/derive/load-module.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import type { Json } from '../../shared/json/types.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import type { JournalRecord, ShardInfo } from '../../shared/ports/journal.ts';
import { inheritMarks } from '../../shared/ports/state.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';

const root = join(import.meta.dirname, '..', '..');

let emulators: Emulators;
let clients: AwsClients;
beforeAll(async () => {
  ({ emulators, clients } = await startStack());
});
afterAll(async () => {
  await emulators?.stop();
});

async function catalogOf(file: string): Promise<BuiltCatalog> {
  const { catalog, diagnostics } = await loadCatalog(join(root, 'test', 'fixtures', file));
  if (!catalog) throw new Error(JSON.stringify(diagnostics));
  return catalog;
}

/** Every record of a shard. */
async function recordsOf(j: KinesisJournal, collection: string, shardId: string): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const r = await j.read(collection, shardId, after, 10_000);
    out.push(...r.records);
    if (r.records.length === 0) return out;
    after = r.records.at(-1)!.sequenceNumber;
  }
}

/** Deliver shards' records to a task, a shard's in one event, as the mapping does (parents first: the caller). */
async function deliver(t: DeriveTask, j: KinesisJournal, collection: string, shards: ShardInfo[]) {
  for (const s of shards) {
    const records = await recordsOf(j, collection, s.shardId);
    if (records.length > 0) await t.onBatch(decodeRecords(collection, records));
  }
}

async function untilShards(j: KinesisJournal, collection: string, n: number): Promise<ShardInfo[]> {
  for (let i = 0; i < 200; i++) {
    const all = await j.listShards(collection);
    if (all.length === n) return all;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${collection}: not ${n} shards`);
}

function sorted(shards: ShardInfo[]): ShardInfo[] {
  return [...shards].sort((a, b) => (BigInt(a.startingHashKey) < BigInt(b.startingHashKey) ? -1 : 1));
}

/**
 * A chain upstream → downstream on kinesalite, every stream of one shard. `events(from, n)` appends source
 * documents; `up(state)` is a fresh upstream task (a fresh state store: one that crashed before it stored
 * anything, so it derives everything again with the same origins). `split` halves a shard's hash range
 * and gives its two children (low first) once the stream lists `total` shards; `merge` joins two adjacent
 * shards and gives the open shards once it lists `total`.
 */
async function chainOn(catalog: BuiltCatalog, source: string, upstream: string, downstream: string) {
  const prefix = uniqueName('derive-reshard');
  const j = new KinesisJournal({ client: clients.kinesis, streamName: (c) => streamNameFor(prefix, c) });
  for (const c of Object.keys(catalog.collections)) await j.ensureStream(c, 1);
  const registry = new SchemaRegistry(catalog.schemas);
  const taskOf = async (name: string, state: MemoryStateStore) =>
    new DeriveTask(
      catalog.collections[name],
      await createDerivationRunner(catalog, registry, name),
      j,
      catalog,
      {
        watermarks: state,
        derivationState: state,
      },
    );
  const name = (c: string) => streamNameFor(prefix, c);
  return {
    j,
    split: async (collection: string, s: ShardInfo, total: number) => {
      const mid = (BigInt(s.startingHashKey) + BigInt(s.endingHashKey) + 1n) / 2n;
      await clients.kinesis.send(
        new SplitShardCommand({
          StreamName: name(collection),
          ShardToSplit: s.shardId,
          NewStartingHashKey: mid.toString(),
        }),
      );
      const all = await untilShards(j, collection, total);
      return sorted(all.filter((x) => !x.closed && x.parentShardId === s.shardId));
    },
    merge: async (collection: string, a: ShardInfo, b: ShardInfo, total: number) => {
      await clients.kinesis.send(
        new MergeShardsCommand({
          StreamName: name(collection),
          ShardToMerge: a.shardId,
          AdjacentShardToMerge: b.shardId,
        }),
      );
      return (await untilShards(j, collection, total)).filter((x) => !x.closed);
    },
    up: (state = new MemoryStateStore()) => taskOf(upstream, state),
    down: (state: MemoryStateStore) => taskOf(downstream, state),
    source: async (docs: Json[], key: (d: Json) => string) => {
      await j.append(
        source,
        docs.map((doc) => ({ hashKey: explicitHashKey(packKey([key(doc)])), doc })),
      );
    },
  };
}

describe('a derivation reading a resharded stream', () => {
  it('inheritMarks: a split child takes its parent marks; a merge child the lower of both, only for sources both saw', () => {
    const p1 = { upTo: 'x', marks: { a: '05', b: '09' }, at: { a: 1, b: 2 } };
    const p2 = { upTo: 'y', marks: { a: '07', c: '03' }, at: { a: 3, c: 4 } };
    expect(inheritMarks([p1])).toEqual({ upTo: '', marks: { a: '05', b: '09' }, at: { a: 1, b: 2 } });
    expect(inheritMarks([p1, p2])).toEqual({ upTo: '', marks: { a: '05' }, at: { a: 1 } });
    expect(inheritMarks([p1, undefined])).toBeUndefined();
    expect(inheritMarks([])).toBeUndefined();
  });

  it('stateless (watermarks in the state store): copies re-published into split children are dropped, new documents derived; after a merge too', async () => {
    const catalog = await catalogOf('localstack/chain.yaml');
    const c = await chainOn(catalog, 'chain/events', 'chain/lines', 'chain/sums');
    const ev = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `e${from + i}`,
        user: `u${(from + i) % 3}`,
        amount: from + i,
      }));
    const idOf = (d: Json) => (d as { id: string }).id;
    await c.source(ev(0, 20), idOf);
    const events = await c.j.listShards('chain/events');
    await deliver(await c.up(), c.j, 'chain/events', events);
    const downState = new MemoryStateStore();
    const down = await c.down(downState);
    const [parent] = await c.j.listShards('chain/lines');
    await deliver(down, c.j, 'chain/lines', [parent]);
    expect(down.stats.docsOut).toBe(20);

    // The lines stream splits; the upstream replays everything (its first attempt never stored its
    // progress) and derives 10 new events: 20 copies and 10 new lines land in the children.
    const children = await c.split('chain/lines', parent, 3);
    await c.source(ev(20, 10), idOf);
    await deliver(await c.up(), c.j, 'chain/events', events);
    await deliver(down, c.j, 'chain/lines', children);
    // Each event derived once: the copies skipped (they were derived again before: 40 out).
    expect({ out: down.stats.docsOut, skipped: down.stats.docsSkipped }).toEqual({ out: 30, skipped: 20 });

    // The children merge; the upstream replays again with 10 more: 30 copies and 10 new lines.
    const merged = await c.merge('chain/lines', children[0], children[1], 4);
    await c.source(ev(30, 10), idOf);
    await deliver(await c.up(), c.j, 'chain/events', events);
    const before = { ...down.stats };
    await deliver(down, c.j, 'chain/lines', merged);
    const out = down.stats.docsOut - before.docsOut;
    const skipped = down.stats.docsSkipped - before.docsSkipped;
    // The merged shard starts from the lower of its parents' marks; a copy between the two is known by
    // its key's parent (without: 3 of the 30 copies derived again).
    expect({ out, skipped }).toEqual({ out: 10, skipped: 30 });
  });

  it('a grandchild whose parent never took a record (split twice in a row) starts from its grandparent marks', async () => {
    const catalog = await catalogOf('localstack/chain.yaml');
    const c = await chainOn(catalog, 'chain/events', 'chain/lines', 'chain/sums');
    const ev = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `e${from + i}`,
        user: `u${(from + i) % 3}`,
        amount: from + i,
      }));
    const idOf = (d: Json) => (d as { id: string }).id;
    await c.source(ev(0, 20), idOf);
    const events = await c.j.listShards('chain/events');
    await deliver(await c.up(), c.j, 'chain/events', events);
    const down = await c.down(new MemoryStateStore());
    const [parent] = await c.j.listShards('chain/lines');
    await deliver(down, c.j, 'chain/lines', [parent]);
    const [low, high] = await c.split('chain/lines', parent, 3);
    const grandchildren = await c.split('chain/lines', low, 5);
    await c.source(ev(20, 10), idOf);
    await deliver(await c.up(), c.j, 'chain/events', events);
    await deliver(down, c.j, 'chain/lines', [low, high, ...grandchildren]);
    expect({ out: down.stats.docsOut, skipped: down.stats.docsSkipped }).toEqual({ out: 30, skipped: 20 });
  });

  it('stateful (marks in the SQLite / TypeScript manifest): copies re-published into split and merged children are dropped, the state carries on', async () => {
    const catalog = await catalogOf('reshard/flow.yaml');
    const c = await chainOn(catalog, 'rs/events', 'rs/steps', 'rs/echo');
    const keyOf = (d: Json) => (d as { key: string }).key;
    const ev = (from: number, to: number) =>
      Array.from({ length: 8 }, (_, k) =>
        Array.from({ length: to - from }, (_, i) => ({ key: `k${k}`, seq: from + i + 1, count: 1 })),
      ).flat();
    await c.source(ev(0, 3), keyOf);
    const events = await c.j.listShards('rs/events');
    await deliver(await c.up(), c.j, 'rs/events', events);
    const down = await c.down(new MemoryStateStore());
    const [parent] = await c.j.listShards('rs/steps');
    await deliver(down, c.j, 'rs/steps', [parent]);
    expect(down.stats.docsOut).toBe(24);

    const children = await c.split('rs/steps', parent, 3);
    // The upstream replays from its initial state (no commit survived) with 2 more events per key.
    await c.source(ev(3, 5), keyOf);
    await deliver(await c.up(), c.j, 'rs/events', events);
    await deliver(down, c.j, 'rs/steps', children);
    expect({ out: down.stats.docsOut, skipped: down.stats.docsSkipped }).toEqual({ out: 40, skipped: 24 });

    // The children merge; the upstream replays again with 2 more events per key: 40 copies, 16 new.
    const merged = await c.merge('rs/steps', children[0], children[1], 4);
    await c.source(ev(5, 7), keyOf);
    await deliver(await c.up(), c.j, 'rs/events', events);
    await deliver(down, c.j, 'rs/steps', merged);
    expect({ out: down.stats.docsOut, skipped: down.stats.docsSkipped }).toEqual({ out: 56, skipped: 64 });
    // The echo derivation's state carried on: every output in order (no gap).
    const outputs = (
      await Promise.all((await c.j.listShards('rs/echo')).map((s) => recordsOf(c.j, 'rs/echo', s.shardId)))
    ).flat();
    const echo = decodeRecords('rs/echo', outputs).docs.map((d) => d.doc as { key: string; gaps: number });
    expect(echo).toHaveLength(56);
    expect(echo.filter((d) => d.gaps !== 0)).toEqual([]);
  });
});
