/**
 * Under `park`, a document the persister cannot fold into its collection's reduced view (here a `sum`
 * that overflows: each document is valid alone, only their reduction fails) is parked, and only it:
 * the batch is applied again document by document, and then its fragments are written. The durable history (S3 fragments: what a new materialization binding backfills from,
 * what Athena reads) must still hold every document of the batch, the parked one included (its
 * delivery wrote it, only the view refused it): none may be lost because a document of the same
 * Kinesis record was written after it under the same object name.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { type Account, fragmentIds, postAccounts } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

describe('park in the persister keeps the durable history whole', () => {
  it('a document whose reduction fails is parked; every document of its batch stays in the fragments', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-persist-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(FIXTURE, { dataDir, context: { onFailure: 'park' } });
    cleanup.push(() => runner.stop());
    // 1e19 twice overflows a 64-bit sum: the second one cannot be folded into the view of `big`.
    const first: Account[] = [{ id: 'big', balance: 1e19 }];
    await postAccounts(runner, first);
    await runner.drain();
    // One request, its own batch: its documents are packed into one record per shard.
    const second: Account[] = [
      { id: 'big', balance: 1e19 },
      ...Array.from({ length: 30 }, (_, i) => ({ id: `a${i}`, balance: i + 1 })),
    ];
    await postAccounts(runner, second);
    await runner.drain();

    const parked = await runner.parkingLot('persister:test/accounts').list();
    expect(parked.map((p) => (p.parked.doc as Account).id)).toEqual(['big']);
    expect(parked[0].parked.error).toMatch(/overflow/);
    // The view holds everything else, once.
    const view: Record<string, number> = {};
    const store = new DynamoStateStore({
      client: runner.admin.dynamodb,
      table: runner.resources.stateTable!,
    });
    for await (const it of store.scan('test/accounts')) {
      const d = it.doc as Account;
      view[d.id] = d.balance;
    }
    expect(view).toEqual({ big: 1e19, ...Object.fromEntries(second.slice(1).map((a) => [a.id, a.balance])) });
    // The fragments hold every document that was sent, once: nothing of the second batch lost (its
    // neighbours of `big`'s record overwritten by one-document fragments), nothing written twice.
    const ids = await fragmentIds(runner, 'test/accounts');
    const missing = [...first, ...second].map((a) => a.id).filter((id) => !ids.includes(id));
    expect(missing).toEqual([]);
    expect(ids).toEqual([...first, ...second].map((a) => a.id).sort());
  });
});
