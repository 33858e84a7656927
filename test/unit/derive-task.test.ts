// The derive task (what the Lambda and the local stack run) honours transform partition selectors
// and priorities, like `sluice test` does. Memory journal; AWS-shaped events.
import { readFileSync } from 'node:fs';
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
import { decodeRecords } from '../../shared/ports/events.ts';
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

  it('runs transforms of one source in priority order (higher first), then catalog order', async () => {
    const { catalog } = await loadCatalog(join(root, 'test', 'fixtures', 'bank', 'flow.yaml'));
    const out = await derive(catalog!, 'acmeBank/first-touch', 'acmeBank/transfers', [
      { id: 1, sender: 'alice', recipient: 'bob', amount: 5 },
    ]);
    expect(out.map((d) => (d as { via: string }).via)).toEqual(['fromHigh', 'fromLow']);
  });
});
