/**
 * Exactly-once through a chain of derivations on the local stack: the synthesized assembly, its
 * functions in Lambda's sandbox, on the real emulators:
 * HTTP ingest → derivation A (chain/lines) → derivation B (chain/sums, sums per user) → DynamoDB.
 * A is killed after appending its outputs, before its checkpoint, so the restart replays it and it
 * re-publishes those outputs; B must not derive them twice (its origin watermarks), so the materialized
 * sums equal the oracle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { CrashError } from '../../shared/local/esm.ts';
import { unpackFrameEntries } from '../../shared/ports/framing.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { materializedSums, postJson, type SumEvent, sumEvents, sumOracle } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/chain.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

type Event = SumEvent;
const events = (n: number, from = 0): Event[] => sumEvents(n, from, { users: 5, mul: 31, mod: 97 });
const oracle = sumOracle;

function post(runner: AssemblyRunner, docs: Event[]): Promise<number> {
  return postJson(`${runner.ingestUrl}/chain/ingest/events`, docs);
}

function materialized(runner: AssemblyRunner) {
  return materializedSums(fixture.catalog, 'chain/to-dynamo', runner.admin.dynamodb);
}

function start(dataDir: string, extra: Partial<Parameters<typeof startAssembly>[1]> = {}) {
  return startAssembly(FIXTURE, { dataDir, ...extra });
}

describe('exactly-once through a chain of derivations', () => {
  it('derivation A killed after its append, before its checkpoint, and restarted: B derives nothing twice', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-chain-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let crashes = 0;
    const runner = await start(dataDir, {
      beforeCheckpoint: (t) => {
        if (t === 'derivation:chain/lines' && crashes++ === 1) throw new CrashError(`${t} before checkpoint`);
      },
    });
    const sent = events(240);
    for (let i = 0; i < sent.length; i += 80) expect(await post(runner, sent.slice(i, i + 80))).toBe(200);
    await expect(runner.drain()).rejects.toThrow(CrashError);
    expect(crashes).toBe(2);
    await runner.stop();

    const again = await start(dataDir);
    cleanup.push(() => again.stop());
    const more = events(40, 240);
    expect(await post(again, more)).toBe(200);
    await again.drain();
    const b = again.task('derivation:chain/sums');
    // The materialized sums of B equal the oracle: nothing lost, nothing counted twice.
    expect(await materialized(again)).toEqual(oracle([...sent, ...more]));
    // A's replay re-published lines (same origins): the stream holds more lines than events...
    let lines = 0;
    const stream = again.resources.streams['chain/lines'];
    const journal = new KinesisJournal({ client: again.admin.kinesis, streamName: () => stream });
    for (const sh of await journal.listShards('chain/lines')) {
      const r = await journal.read('chain/lines', sh.shardId, undefined, 10_000);
      lines += r.records.reduce((n, rec) => n + unpackFrameEntries(rec.data).length, 0);
    }
    expect(lines).toBeGreaterThan(sent.length + more.length);
    // ...and B dropped exactly the copies, as already processed (its DocsSkipped metric, in EMF).
    expect(b.metrics.DocsSkipped ?? 0).toBe(lines - sent.length - more.length);
  });
});
