/**
 * A replay across a reshard, on the local stack: derivation A (chain/lines) is killed after appending its
 * outputs, before its checkpoint; while it is down, its output stream is split (both shards); restarted,
 * A replays and re-publishes those outputs, which now land in the children. Derivation B (chain/sums) has
 * read the parents to their end: the children's origin watermarks start from their parents', so B drops
 * the copies, and the materialized sums equal the oracle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SplitShardCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { CrashError } from '../../shared/local/esm.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { materializedSums, postJson, type SumEvent, sumEvents, sumOracle } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/chain.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

const events = (n: number, from = 0): SumEvent[] => sumEvents(n, from, { users: 5, mul: 31, mod: 97 });

function post(runner: AssemblyRunner, docs: SumEvent[]): Promise<number> {
  return postJson(`${runner.ingestUrl}/chain/ingest/events`, docs);
}

describe('a derivation replaying across a reshard of its output stream', () => {
  it('A killed before its checkpoint, its output stream split, A restarted: B drops the copies that land in the children', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-reshard-replay-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let crashes = 0;
    const runner = await startAssembly(FIXTURE, {
      dataDir,
      beforeCheckpoint: (t) => {
        if (t === 'derivation:chain/lines' && crashes++ === 1) throw new CrashError(`${t} before checkpoint`);
      },
    });
    const sent = events(240);
    for (let i = 0; i < sent.length; i += 80) expect(await post(runner, sent.slice(i, i + 80))).toBe(200);
    await expect(runner.drain()).rejects.toThrow(CrashError);
    await runner.stop();

    const again = await startAssembly(FIXTURE, { dataDir });
    cleanup.push(() => again.stop());
    const stream = again.resources.streams['chain/lines'];
    const journal = new KinesisJournal({ client: again.admin.kinesis, streamName: () => stream });
    // Both shards of A's output stream split while A is down.
    for (const s of await journal.listShards('chain/lines')) {
      await again.admin.kinesis.send(
        new SplitShardCommand({
          StreamName: stream,
          ShardToSplit: s.shardId,
          NewStartingHashKey: ((BigInt(s.startingHashKey) + BigInt(s.endingHashKey)) / 2n).toString(),
        }),
      );
      for (let i = 0; i < 200; i++) {
        const all = await journal.listShards('chain/lines');
        if (all.some((x) => x.parentShardId === s.shardId)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const more = events(40, 240);
    expect(await post(again, more)).toBe(200);
    await again.drain();

    // The copies A re-published are in the children (the split happened before the replay)...
    const shards = await journal.listShards('chain/lines');
    let inParents = 0;
    let inChildren = 0;
    for (const s of shards) {
      const r = await journal.read('chain/lines', s.shardId, undefined, 10_000);
      const n = decodeRecords('chain/lines', r.records).docs.length;
      if (s.parentShardId) inChildren += n;
      else inParents += n;
    }
    const copies = inParents + inChildren - sent.length - more.length;
    expect(copies).toBeGreaterThan(0);
    expect(inChildren).toBeGreaterThan(more.length);
    // ...and B dropped exactly them: the sums equal the oracle.
    expect(await materializedSums(fixture.catalog, 'chain/to-dynamo', again.admin.dynamodb)).toEqual(
      sumOracle([...sent, ...more]),
    );
    expect(again.task('derivation:chain/sums').metrics.DocsSkipped ?? 0).toBe(copies);
    expect(again.denied).toEqual([]);
  });
});
