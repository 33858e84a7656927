// Exactly-once through a chain of derivations (memory adapters): a derive task drops input documents it
// has already processed, identified by their origin, through watermarks kept in the state store.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { createDerivationRunner } from '../../shared/derive/load-module.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import type { Json } from '../../shared/json/types.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import type { JournalRecord } from '../../shared/ports/journal.ts';
import type { StateStore } from '../../shared/ports/state.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const root = join(import.meta.dirname, '..', '..');

async function chain() {
  const { catalog, diagnostics } = await loadCatalog(
    join(root, 'test', 'fixtures', 'localstack', 'chain.yaml'),
  );
  if (!catalog) throw new Error(JSON.stringify(diagnostics));
  const journal = new MemoryJournal({ shards: 2 });
  for (const c of Object.keys(catalog.collections)) journal.ensure(c);
  return { catalog, journal, registry: new SchemaRegistry(catalog.schemas) };
}

async function task(catalog: BuiltCatalog, journal: MemoryJournal, name: string, state?: StateStore) {
  const runner = await createDerivationRunner(catalog, new SchemaRegistry(catalog.schemas), name);
  return new DeriveTask(catalog.collections[name], runner, journal, catalog, { watermarks: state });
}

function events(n: number, from = 0): Json[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `e${from + i}`,
    user: `u${(from + i) % 3}`,
    amount: from + i,
  }));
}

async function capture(journal: MemoryJournal, docs: Json[]) {
  await journal.append(
    'chain/events',
    docs.map((doc) => ({ hashKey: explicitHashKey(packKey([(doc as { id: string }).id])), doc })),
  );
}

/** Deliver records to a task one shard per event, as the event-source mapping does. */
async function deliver(t: DeriveTask, collection: string, records: JournalRecord[]) {
  for (const shard of new Set(records.map((r) => r.shardId))) {
    await t.onBatch(
      decodeRecords(
        collection,
        records.filter((r) => r.shardId === shard),
      ),
    );
  }
}

/** Records of `now` not in `before`. */
function since(before: JournalRecord[], now: JournalRecord[]): JournalRecord[] {
  const old = new Set(before.map((r) => `${r.shardId}/${r.sequenceNumber}`));
  return now.filter((r) => !old.has(`${r.shardId}/${r.sequenceNumber}`));
}

function docsOf(journal: MemoryJournal, collection: string) {
  return decodeRecords(collection, journal.allRecords(collection)).docs;
}

describe('DeriveTask origin watermarks', () => {
  it('drops replayed copies of an upstream derivation; fresh documents pass; watermarks survive a restart', async () => {
    const { catalog, journal } = await chain();
    const state = new MemoryStateStore();
    await capture(journal, events(10));
    const a = await task(catalog, journal, 'chain/lines', state);
    const captured = journal.allRecords('chain/events');
    await deliver(a, 'chain/events', captured);
    // A "crashed" before its checkpoint: the replay re-publishes the same lines (same uuids and origins).
    await deliver(a, 'chain/events', captured);
    const lines = docsOf(journal, 'chain/lines');
    expect(lines).toHaveLength(20);
    expect(new Set(lines.map((d) => `${d.source}@${d.position}`)).size).toBe(10);

    const b = await task(catalog, journal, 'chain/sums', state);
    await deliver(b, 'chain/lines', journal.allRecords('chain/lines'));
    expect(b.stats.docsIn).toBe(20);
    expect(b.stats.docsSkipped).toBe(10);
    const sums = docsOf(journal, 'chain/sums');
    expect(sums).toHaveLength(10);
    // One sum document per distinct event, nothing derived twice.
    expect(sums.map((d) => (d.doc as { total: number }).total).sort((x, y) => x - y)).toEqual(
      events(10).map((e) => (e as { amount: number }).amount),
    );

    // The watermarks are in the state store, one item per (task, input shard).
    const shards = await journal.listShards('chain/lines');
    const stored = await Promise.all(
      shards.map((s) => state.getWatermarks('derivation:chain/sums', `chain/lines/${s.shardId}`)),
    );
    expect(stored.filter((w) => w !== undefined).length).toBeGreaterThan(0);
    for (const w of stored)
      if (w) expect(Object.keys(w.marks).every((s) => s.startsWith('chain/events/'))).toBe(true);

    // "Restart": a new task instance (nothing in memory) on the same state store; replaying all of A's
    // output (a crash after the watermarks, before the checkpoint) derives nothing.
    const b2 = await task(catalog, journal, 'chain/sums', state);
    await deliver(b2, 'chain/lines', journal.allRecords('chain/lines'));
    expect(b2.stats.docsSkipped).toBe(20);
    expect(b2.stats.docsOut).toBe(0);
    expect(docsOf(journal, 'chain/sums')).toHaveLength(10);

    // Fresh documents after the restart are derived.
    const seen = journal.allRecords('chain/lines');
    await capture(journal, events(5, 10));
    await deliver(a, 'chain/events', since(captured, journal.allRecords('chain/events')));
    await deliver(b2, 'chain/lines', since(seen, journal.allRecords('chain/lines')));
    expect(b2.stats.docsOut).toBe(5);
    expect(b2.stats.docsSkipped).toBe(20);
  });

  it('documents without an origin (captured) are never skipped, even when delivered twice', async () => {
    const { catalog, journal } = await chain();
    const state = new MemoryStateStore();
    await capture(journal, events(6));
    const a = await task(catalog, journal, 'chain/lines', state);
    const captured = journal.allRecords('chain/events');
    await deliver(a, 'chain/events', captured);
    await deliver(a, 'chain/events', captured);
    expect(a.stats.docsSkipped).toBe(0);
    expect(a.stats.docsOut).toBe(12);
    // Nothing to remember: no watermark item was written.
    for (const s of await journal.listShards('chain/events'))
      expect(
        await state.getWatermarks('derivation:chain/lines', `chain/events/${s.shardId}`),
      ).toBeUndefined();
  });

  it('without a watermark store, replayed copies are derived again (the behaviour the watermarks fix)', async () => {
    const { catalog, journal } = await chain();
    await capture(journal, events(4));
    const a = await task(catalog, journal, 'chain/lines');
    const captured = journal.allRecords('chain/events');
    await deliver(a, 'chain/events', captured);
    await deliver(a, 'chain/events', captured);
    const b = await task(catalog, journal, 'chain/sums');
    await deliver(b, 'chain/lines', journal.allRecords('chain/lines'));
    expect(b.stats.docsOut).toBe(8);
  });

  it('outputs of transforms run in priority order carry increasing origins, so none is taken for a copy', async () => {
    const { catalog } = await loadCatalog(join(root, 'test', 'fixtures', 'bank', 'flow.yaml'));
    const journal = new MemoryJournal({ shards: 1 });
    journal.ensure('acmeBank/transfers');
    journal.ensure('acmeBank/first-touch');
    await journal.append('acmeBank/transfers', [
      {
        hashKey: explicitHashKey(packKey([1])),
        doc: { id: 1, sender: 'alice', recipient: 'bob', amount: 5 },
      },
    ]);
    const t = await task(catalog!, journal, 'acmeBank/first-touch', new MemoryStateStore());
    await deliver(t, 'acmeBank/transfers', journal.allRecords('acmeBank/transfers'));
    const out = docsOf(journal, 'acmeBank/first-touch');
    // fromHigh (second in the catalog, priority 10) runs first; its outputs come first and sort first.
    expect(out.map((d) => (d.doc as { via: string }).via)).toEqual(['fromHigh', 'fromLow']);
    const positions = out.map((d) => d.position);
    expect([...positions].sort()).toEqual(positions);
    expect(new Set(positions).size).toBe(positions.length);
  });
});

describe('origin watermarks expire', () => {
  it('a mark not moved for longer than the horizon is dropped (one source per S3 object or ingest request would grow them for ever); within it, copies are still dropped', async () => {
    const { catalog, journal } = await chain();
    const state = new MemoryStateStore();
    let nowMs = 1_000_000_000_000;
    const runner = await createDerivationRunner(catalog, new SchemaRegistry(catalog.schemas), 'chain/lines');
    const t = new DeriveTask(catalog.collections['chain/lines'], runner, journal, catalog, {
      watermarks: state,
      marksHorizonSeconds: 100,
      now: () => nowMs,
    });
    // Captured documents whose origins name one source per object, as source-s3 writes them.
    const put = (id: string, object: string) =>
      journal.append('chain/events', [
        {
          hashKey: explicitHashKey(packKey(['same'])),
          doc: { id, user: 'u0', amount: 1 },
          origin: `cap/bucket/${object}#ab@${'1'.padStart(6, '0')}`,
        },
      ]);
    for (const o of ['obj1', 'obj2', 'obj3']) await put(`e-${o}`, o);
    await deliver(t, 'chain/events', journal.allRecords('chain/events'));
    const [shard] = new Set(journal.allRecords('chain/events').map((r) => r.shardId));
    const marksOf = async () =>
      (await state.getWatermarks(t.stateTask, `chain/events/${shard}`)) ?? { upTo: '', marks: {} };
    expect(Object.keys((await marksOf()).marks).sort()).toEqual([
      'cap/bucket/obj1#ab',
      'cap/bucket/obj2#ab',
      'cap/bucket/obj3#ab',
    ]);
    expect((await marksOf()).at?.['cap/bucket/obj1#ab']).toBe(1_000_000_000);

    // 50 s later, a copy of obj1's document (a re-read) is dropped.
    nowMs += 50_000;
    let before = journal.allRecords('chain/events');
    await put('e-obj1', 'obj1');
    const out = journal.allRecords('chain/lines').length;
    await deliver(t, 'chain/events', since(before, journal.allRecords('chain/events')));
    expect(journal.allRecords('chain/lines').length).toBe(out);
    expect(t.stats.docsSkipped).toBe(1);

    // 150 s after they last moved, the next batch drops the three old marks and keeps the new one.
    nowMs += 100_000;
    before = journal.allRecords('chain/events');
    await put('e-obj4', 'obj4');
    await deliver(t, 'chain/events', since(before, journal.allRecords('chain/events')));
    const w = await marksOf();
    expect(Object.keys(w.marks)).toEqual(['cap/bucket/obj4#ab']);
    expect(Object.keys(w.at ?? {})).toEqual(['cap/bucket/obj4#ab']);
  });
});
