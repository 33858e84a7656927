// The derive task (what the Lambda and the local stack run) honours transform partition selectors
// and priorities, like `sluice test` does. Memory journal; AWS-shaped events.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryJournal } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { createDerivationRunner } from '../../shared/derive/load-module.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import type { Json } from '../../shared/json/types.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import { metaUuid } from '../../shared/meta/uuid.ts';
import { decodeRecords, foldKey } from '../../shared/ports/events.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const root = join(import.meta.dirname, '..', '..');

async function derive(catalog: BuiltCatalog, derivation: string, source: string, docs: Json[]) {
  const registry = new SchemaRegistry(catalog.schemas);
  const journal = new MemoryJournal();
  journal.ensure(source);
  journal.ensure(derivation);
  await journal.append(
    source,
    docs.map((doc) => ({ hashKey: explicitHashKey(packKey([JSON.stringify(doc)])), doc })),
  );
  const runner = await createDerivationRunner(catalog, registry, derivation);
  const task = new DeriveTask(catalog.collections[derivation], runner, journal, catalog);
  await task.onBatch(decodeRecords(source, journal.allRecords(source)));
  return journal.allRecords(derivation).length === 0 ? [] : await readAll(journal, derivation);
}

async function readAll(journal: MemoryJournal, collection: string): Promise<Json[]> {
  return decodeRecords(collection, journal.allRecords(collection)).docs.map((d) => d.doc);
}

function withoutMeta(doc: Json): Json {
  const { _meta, ...rest } = doc as Record<string, Json>;
  return rest;
}

/** Sums per user kept in the instance and published at flush(); e2 fails while `poisoned` is set. */
const FLUSH_MODULE = `export class Derivation {
  private sums = new Map<string, { count: number; total: number }>();
  fromEvents(read: { doc: { id: string; user: string; amount: number } }): never[] {
    if (read.doc.id === 'e2' && (globalThis as { poisoned?: boolean }).poisoned) throw new Error('not yet');
    const s = this.sums.get(read.doc.user) ?? { count: 0, total: 0 };
    s.count += 1;
    s.total += read.doc.amount;
    this.sums.set(read.doc.user, s);
    return [];
  }
  flush() {
    const out = [...this.sums].map(([user, s]) => ({ user, ...s }));
    this.sums.clear();
    return out;
  }
}
`;

/** The localstack fixture with FLUSH_MODULE as test/totals' module, its events e1 (1) and e2 (10) appended. */
async function flushFixture(dir: string) {
  cpSync(join(root, 'test', 'fixtures', 'localstack'), dir, { recursive: true });
  writeFileSync(join(dir, 'totals.ts'), FLUSH_MODULE);
  const { catalog } = await loadCatalog(join(dir, 'flow.yaml'));
  const registry = new SchemaRegistry(catalog!.schemas);
  const journal = new MemoryJournal();
  journal.ensure('test/events');
  journal.ensure('test/totals');
  const events = [
    { id: 'e1', user: 'u', amount: 1 },
    { id: 'e2', user: 'u', amount: 10 },
  ];
  await journal.append(
    'test/events',
    events.map((doc) => ({ hashKey: explicitHashKey(packKey([doc.id])), doc })),
  );
  const runner = await createDerivationRunner(catalog!, registry, 'test/totals');
  const task = new DeriveTask(catalog!.collections['test/totals'], runner, journal, catalog!);
  return { journal, task, batch: decodeRecords('test/events', journal.allRecords('test/events')) };
}

describe('DeriveTask', () => {
  it('skips source documents outside the transform partition selector', async () => {
    const { catalog } = await loadCatalog(join(root, 'examples', 'fraud', 'flow.yaml'));
    const burst = JSON.parse(
      readFileSync(join(root, 'examples', 'fraud', 'fixtures', 'burst.json'), 'utf8'),
    ) as Json[];
    const out = await derive(catalog!, 'acmeBank/fraud/flagged', 'acmeBank/fraud/transactions', burst);
    // t5 is a 2000 USD ATM withdrawal: large, but `channel: atm` is not in the transform's partitions.
    expect(out.map((d) => (d as { txn_id: string }).txn_id).sort()).toEqual(['t1', 't3']);
  });

  it('reads a source only inside its notBefore/notAfter bounds, by the publish time of _meta/uuid', async () => {
    process.env.PARITY_PG_PASSWORD ??= 'unused';
    const { catalog } = await loadCatalog(join(root, 'test', 'fixtures', 'parity', 'inventory', 'flow.yaml'));
    const at = (iso: string, i: number) => ({ uuid: metaUuid(Date.parse(iso), 'test', i) });
    const move = (id: string, kind: string, published: string, i: number) => ({
      id,
      sku: 'a1',
      site: 'north',
      kind,
      qty: 1,
      at: '2026-03-01T00:00:00Z',
      _meta: at(published, i),
    });
    const out = await derive(catalog!, 'parity/stock', 'parity/moves', [
      move('old-out', 'out', '2024-06-01T00:00:00Z', 1), // archive (notAfter 2025) only
      move('new-out', 'out', '2026-07-01T00:00:00Z', 2), // outbound (notBefore 2026-06-01) only
      move('mid-out', 'out', '2026-02-01T00:00:00Z', 3), // neither
    ]);
    const docs = out.map(withoutMeta) as Record<string, Json>[];
    // fromArchive read old-out (archived 1, on_hand +1000); fromOutbound read new-out (shipped 1).
    expect(docs.filter((d) => d.archived !== undefined)).toEqual([{ sku: 'a1', archived: 1, on_hand: 1000 }]);
    expect(docs.filter((d) => d.shipped !== undefined).map((d) => d.shipped)).toEqual([1]);
  });

  it('runs transforms of one source in priority order (higher first), then catalog order', async () => {
    const { catalog } = await loadCatalog(join(root, 'test', 'fixtures', 'bank', 'flow.yaml'));
    const out = await derive(catalog!, 'acmeBank/first-touch', 'acmeBank/transfers', [
      { id: 1, sender: 'alice', recipient: 'bob', amount: 5 },
    ]);
    expect(out.map((d) => (d as { via: string }).via)).toEqual(['fromHigh', 'fromLow']);
  });

  it('a batch that failed leaves nothing of its attempt in a stateless instance for the retry to flush twice', async () => {
    // Sums per user kept in the instance and published at flush(); e2 cannot be derived until fixed.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-derive-flush-'));
    try {
      const { journal, task, batch } = await flushFixture(dir);
      (globalThis as { poisoned?: boolean }).poisoned = true;
      // Halt: the function error leaves the instance warm; the mapping delivers the batch again.
      await expect(task.onBatch(batch)).rejects.toThrow(/not yet/);
      await expect(task.onBatch(batch)).rejects.toThrow(/not yet/);
      (globalThis as { poisoned?: boolean }).poisoned = false;
      await task.onBatch(batch);
      // e1 once, e2 once: not e1 three times (twice from the failed attempts).
      expect((await readAll(journal, 'test/totals')).map(withoutMeta)).toEqual([
        { user: 'u', count: 2, total: 11 },
      ]);
    } finally {
      delete (globalThis as { poisoned?: boolean }).poisoned;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing document is named by its stream position (as `sluice parked` names it), not its index in the invocation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-derive-flush-'));
    try {
      const { task, batch } = await flushFixture(dir);
      (globalThis as { poisoned?: boolean }).poisoned = true;
      const e2 = batch.docs.find((d) => (d.doc as { id: string }).id === 'e2')!;
      const failed = await task.onBatch(batch).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(failed?.message).toBe(
        `derivation test/totals transform fromEvents (source test/events shard ${e2.shardId} · position ${e2.sequenceNumber}#${e2.index}): threw: Error: not yet`,
      );
    } finally {
      delete (globalThis as { poisoned?: boolean }).poisoned;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('what flush() published is dropped downstream when its batch is delivered again, whole or bisected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-derive-flush-'));
    try {
      const { journal, task, batch } = await flushFixture(dir);
      // Applied and appended, then delivered again (a crash before the mapping's checkpoint), then its
      // bisected halves.
      await task.onBatch(batch);
      await task.onBatch(batch);
      await task.onBatch({ ...batch, docs: batch.docs.slice(0, 1) });
      await task.onBatch({ ...batch, docs: batch.docs.slice(1) });
      const published = decodeRecords('test/totals', journal.allRecords('test/totals')).docs;
      expect(published.map((d) => withoutMeta(d.doc))).toEqual([
        { user: 'u', count: 2, total: 11 },
        { user: 'u', count: 2, total: 11 },
        { user: 'u', count: 1, total: 1 },
        { user: 'u', count: 1, total: 10 },
      ]);
      // A keyed consumer (the reduced view, a DynamoDB materialization) folds the first only.
      const sum = (l: Json | undefined, r: Json) => {
        const a = (l ?? { count: 0, total: 0 }) as { count: number; total: number };
        const b = r as { count: number; total: number };
        return { count: a.count + b.count, total: a.total + b.total };
      };
      const folded = foldKey(undefined, published, sum);
      expect(folded.folded).toBe(1);
      expect(folded.doc).toEqual({ count: 2, total: 11 });
      // Each copy has the same _meta/uuid as the first: a backfill from fragments drops it too.
      expect(
        new Set(published.slice(0, 2).map((d) => (d.doc as { _meta: { uuid: string } })._meta.uuid)).size,
      ).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
