/**
 * Under `park`, a value the destination refuses: DynamoDB rejects an empty string as a key attribute
 * (ValidationException), so the materialization cannot store user "" — while the derivation and the
 * collection's view take it. The batch's commit fails midway (its other keys' conditional writes are
 * already applied, some perhaps still in flight); applied again document by document, the keys already
 * written are found folded and the documents of user "" are parked, only they: every other user's sums
 * in the destination equal the oracle, once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { materializedSums, postJson, type SumEvent, sumEvents, sumOracle, sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

function materialized(runner: AssemblyRunner) {
  return materializedSums(fixture.catalog, 'test/to-dynamo', runner.admin.dynamodb);
}

describe('park in a DynamoDB materialization', () => {
  it('parks only the documents of the key DynamoDB refuses; the other keys of their batches are stored once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-mpark-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(FIXTURE, { dataDir, context: { onFailure: 'park' } });
    cleanup.push(() => runner.stop());
    // Users u0..u7 and "" (every ninth event).
    const sent: SumEvent[] = sumEvents(270, 0, { users: 9, mul: 23, mod: 61 }).map((e) =>
      e.user === 'u8' ? { ...e, user: '' } : e,
    );
    for (let i = 0; i < sent.length; i += 90) {
      expect(await postJson(`${runner.ingestUrl}/test/ingest/events`, sent.slice(i, i + 90))).toBe(200);
    }
    await runner.drain();
    const all = sumOracle(sent);
    // The collection's view takes user "".
    expect(await sumsOf(runner)).toEqual(all);
    // The destination holds every other user, once.
    const { '': empty, ...others } = all;
    expect(empty.count).toBe(30);
    expect(await materialized(runner)).toEqual(others);
    // What was parked: documents of user "" only, each of the derived documents at most once, their
    // counts adding up to every event of that user.
    const parked = await runner.parkingLot('materialization:test/to-dynamo').list();
    expect(parked.length).toBeGreaterThan(0);
    const docs = parked.map((p) => p.parked.doc as { user: string; count: number; total: number });
    expect(new Set(docs.map((d) => d.user))).toEqual(new Set(['']));
    expect(parked.every((p) => /ValidationException/.test(p.parked.error))).toBe(true);
    expect(new Set(parked.map((p) => p.key)).size).toBe(parked.length);
    expect(docs.reduce((n, d) => n + d.count, 0)).toBe(empty.count);
    expect(docs.reduce((n, d) => n + d.total, 0)).toBe(empty.total);
  });
});
