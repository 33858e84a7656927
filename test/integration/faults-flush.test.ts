/**
 * A stateless TypeScript derivation that accumulates in its instance and publishes at `flush()` (the
 * end of each transaction: Estuary's pattern for per-transaction aggregates), meeting a document it
 * cannot derive in the middle of a batch. The failed attempt's accumulations must not survive into the
 * next attempt: Estuary restarts the connector after a failed transaction, so its instance starts
 * fresh. (A doubled count would not be caught downstream: the failed attempt appended nothing, so the
 * retry's `flush()` outputs are new positions of their origin source.)
 * Under `park` the batch is re-applied document by document after the failure, so the documents
 * before the poison are derived again in the same warm instance. (Under `halt` the mapping delivers the
 * batch again to the same warm instance: test/unit/derive-task.test.ts.)
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { startAssembly } from '../support/assembly.ts';
import { postJson, sumEvents, sumOracle, sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/', import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Sums per user in the instance, published (and forgotten) at flush(); e13 cannot be derived. */
const MODULE = `// Sums per user within one transaction, published at its end.
export class Derivation {
  private sums = new Map<string, { count: number; total: number }>();
  fromEvents(read: { doc: { id: string; user: string; amount: number } }): never[] {
    if (read.doc.id === 'e13') throw new Error('cannot derive this one');
    const s = this.sums.get(read.doc.user) ?? { count: 0, total: 0 };
    s.count += 1;
    s.total += read.doc.amount;
    this.sums.set(read.doc.user, s);
    return [];
  }
  flush(): { user: string; count: number; total: number }[] {
    const out = [...this.sums].map(([user, s]) => ({ user, ...s }));
    this.sums.clear();
    return out;
  }
}
`;

function flowWithFlushModule(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-faults-flush-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, join(dir, 'flow'), { recursive: true });
  writeFileSync(join(dir, 'flow', 'totals.ts'), MODULE);
  return dir;
}

async function post(runner: AssemblyRunner, body: unknown): Promise<void> {
  expect(await postJson(`${runner.ingestUrl}/test/ingest/events`, body)).toBe(200);
}

describe('a failed batch of a flush()-accumulating derivation leaves nothing behind in its instance', () => {
  it('park: only the poison document is missing from the sums; its batch neighbours are counted once', async () => {
    const dir = flowWithFlushModule();
    const runner = await startAssembly(join(dir, 'flow', 'flow.yaml'), {
      dataDir: join(dir, 'data'),
      context: { onFailure: 'park' },
    });
    cleanup.push(() => runner.stop());
    // One request: e13 is packed into a record with its neighbours and fails their batch.
    const events = sumEvents(60, 0, { users: 5, mul: 13, mod: 50 });
    await post(runner, events);
    await runner.drain();
    const parked = await runner.parkingLot('derivation:test/totals').list();
    expect(parked.map((p) => (p.parked.doc as { id: string }).id)).toEqual(['e13']);
    expect(await sumsOf(runner)).toEqual(sumOracle(events.filter((e) => e.id !== 'e13')));
  });
});
