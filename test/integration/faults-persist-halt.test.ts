/**
 * Under `halt` (the default), a batch the persister's reduced view refuses is bisected by the mapping
 * down to the document that fails. The collection's S3 fragments (what Athena reads, what a new
 * materialization binding backfills from) must not hold a document twice because the failed attempt
 * wrote the whole batch's fragment and the halves then wrote their own under other names.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MappingHaltedError } from '../../shared/local/esm.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { type Account, fragmentIds, postAccounts } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

const accounts = (from: number, n: number): Account[] =>
  Array.from({ length: n }, (_, i) => ({ id: `a${from + i}`, balance: from + i + 1 }));

describe('halt in the persister keeps each document in one fragment', () => {
  it('a batch the view refuses writes no fragment; its bisected halves write theirs, no document twice', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-persist-halt-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(FIXTURE, { dataDir });
    cleanup.push(() => runner.stop());
    // 1e19 twice overflows a 64-bit sum: the second one cannot be folded into the view of `big`.
    await postAccounts(runner, [{ id: 'big', balance: 1e19 }]);
    await runner.drain();
    // Four requests within the persister's batching window: one batch of several records per shard,
    // the overflow in its third record.
    const before = [...accounts(0, 10), ...accounts(10, 10)];
    await postAccounts(runner, before.slice(0, 10));
    await postAccounts(runner, before.slice(10));
    await postAccounts(runner, [{ id: 'big', balance: 1e19 }]);
    await postAccounts(runner, accounts(20, 10));
    // The persister's mappings (the materialization halts on `big` too; drain() stops at the first).
    const halts: MappingHaltedError[] = [];
    for (const m of runner.task('persister:test/accounts').mappings)
      await m.drain().catch((e: unknown) => {
        if (!(e instanceof MappingHaltedError)) throw e;
        halts.push(e);
      });
    expect(halts.map((h) => h.halt.error)).toEqual([expect.stringMatching(/overflow/)]);
    const ids = await fragmentIds(runner, 'test/accounts');
    // No document twice; every document sent before the overflow is there (the halves before it were
    // applied), `big` once (its first delivery).
    expect(ids.filter((id, i) => ids[i - 1] === id)).toEqual([]);
    expect(before.map((a) => a.id).filter((id) => !ids.includes(id))).toEqual([]);
    expect(ids.filter((id) => id === 'big')).toEqual(['big']);
  });
});
