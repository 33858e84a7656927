import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import {
  CheckpointLostError,
  CrashError,
  type EsmOptions,
  EventSourceMapping,
  MAX_EVENT_BYTES,
  type OnFailureRecord,
} from '../../shared/local/esm.ts';
import { FunctionError } from '../../shared/local/sandbox/function.ts';
import { haltLine } from '../../shared/local/view.ts';
import { evenRanges, unpackFrame } from '../../shared/ports/index.ts';
import type { Journal } from '../../shared/ports/journal.ts';

const ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/t';

/** One document per record (maxRecordBytes small), n documents spread over the shards' hash ranges. */
async function fill(n: number, shards = 2) {
  const journal = new MemoryJournal({ shards, maxRecordBytes: 40 });
  journal.ensure('c');
  const ranges = evenRanges(shards);
  for (let i = 0; i < n; i++)
    await journal.append('c', [{ hashKey: ranges[i % shards].start.toString(), doc: { i } }]);
  return journal;
}

/** A mapping (task `t`) of stream `c` in `journal`, its checkpoints in memory unless given. */
function mappingOf(
  journal: Journal,
  o: Omit<EsmOptions, 'task' | 'collection' | 'streamArn' | 'journal' | 'checkpoints'> &
    Partial<Pick<EsmOptions, 'checkpoints'>>,
) {
  return new EventSourceMapping({
    task: 't',
    collection: 'c',
    streamArn: ARN,
    journal,
    checkpoints: new MemoryStateStore(),
    ...o,
  });
}

function docsOf(e: KinesisStreamEvent): number[] {
  return e.Records.flatMap((r) =>
    unpackFrame(Buffer.from(r.kinesis.data, 'base64')).map((d) => (d as { i: number }).i),
  );
}

describe('event-source-mapping emulator', () => {
  it('delivers AWS-shaped events, per shard in order, in batches of batchSize, and checkpoints', async () => {
    const journal = await fill(50);
    const state = new MemoryStateStore();
    const seen: number[][] = [];
    const sizes: number[] = [];
    const esm = mappingOf(journal, {
      checkpoints: state,
      batchSize: 10,
      handler: async (e) => {
        expect(e.Records[0].eventSourceARN).toBe(ARN);
        expect(e.Records[0].eventID).toBe(
          `${e.Records[0].eventID.split(':')[0]}:${e.Records[0].kinesis.sequenceNumber}`,
        );
        sizes.push(e.Records.length);
        seen.push(docsOf(e));
      },
    });
    await esm.drain();
    const all = seen.flat();
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Math.max(...sizes)).toBe(10);
    for (const batch of seen) expect(batch).toEqual([...batch].sort((a, b) => a - b));
    // A new mapping on the same checkpoints delivers nothing again.
    let again = 0;
    const esm2 = mappingOf(journal, {
      checkpoints: state,
      handler: async (e) => {
        again += e.Records.length;
      },
    });
    await esm2.drain();
    expect(again).toBe(0);
  });

  it('drain() delivers what the stream holds without waiting out a batching window it cannot fill', async () => {
    const journal = await fill(6);
    const batches: number[][] = [];
    const esm = mappingOf(journal, {
      checkpoints: new MemoryStateStore(),
      batchSize: 100,
      // Ten minutes: a drain that waited it out would hit the test's timeout.
      batchWindowMs: 600_000,
      handler: async (e) => {
        batches.push(docsOf(e));
      },
    });
    await esm.drain();
    expect(batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    // One batch per shard: everything each shard held, in order.
    expect(batches).toHaveLength(2);
  });

  it('drain() while the polling loop runs: one poll of a shard at a time, nothing delivered twice or out of order', async () => {
    const journal = await fill(200);
    const inFlight = new Map<string, number>();
    let most = 0;
    const seen: number[] = [];
    const esm = mappingOf(journal, {
      batchSize: 10,
      idlePollMs: 5,
      handler: async (e) => {
        const shard = e.Records[0].eventID.split(':')[0];
        const n = (inFlight.get(shard) ?? 0) + 1;
        inFlight.set(shard, n);
        most = Math.max(most, n);
        await new Promise((r) => setTimeout(r, 2));
        seen.push(...docsOf(e));
        inFlight.set(shard, n - 1);
      },
    });
    esm.start();
    await esm.drain();
    await esm.stop();
    expect(most).toBe(1);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const parity of [0, 1]) {
      const shard = seen.filter((i) => i % 2 === parity);
      expect(shard).toEqual([...shard].sort((a, b) => a - b));
    }
  });

  it('ReportBatchItemFailures resumes from the lowest failed sequence number', async () => {
    const journal = await fill(10, 1);
    const deliveries: number[] = [];
    let failedOnce = false;
    const esm = mappingOf(journal, {
      checkpoints: new MemoryStateStore(),
      batchSize: 10,
      retryBackoffMs: 1,
      handler: async (e) => {
        const ids = docsOf(e);
        deliveries.push(...ids);
        const at = ids.indexOf(6);
        if (at >= 0 && !failedOnce) {
          failedOnce = true;
          return {
            batchItemFailures: [
              { itemIdentifier: e.Records[at + 2].kinesis.sequenceNumber },
              { itemIdentifier: e.Records[at].kinesis.sequenceNumber },
            ],
          };
        }
        return { batchItemFailures: [] };
      },
    });
    await esm.drain();
    expect(deliveries).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 7, 8, 9]);
  });

  it("records a sandboxed function's failure as Lambda shows it, errorType: errorMessage, without the function's name", async () => {
    const journal = await fill(1, 1);
    const cause = `derivation acme/totals transform fromOrders (source document 0): output document 0 does not match the schema of acme/totals: /total: must be integer`;
    const esm = mappingOf(journal, {
      handler: async () => {
        throw new FunctionError(
          'Sluice-Flow-FlowDerivationsacmetotalsFunction3BB4DF97',
          'DerivationError',
          cause,
          'invoke',
        );
      },
      retryBackoffMs: 1,
    });
    await expect(esm.drain()).rejects.toThrow();
    const halt = [...esm.halts.values()][0];
    expect(halt.error).toBe(`DerivationError: ${cause}`);
    // The view's line keeps the cause, which comes last.
    expect(haltLine(halt)).toMatch(
      /\(\d+ attempts\): DerivationError: derivation .*\/total: must be integer$/,
    );
  });

  it('bisects a failing batch to isolate the poison record and sends only it to the on-failure destination', async () => {
    const journal = await fill(16, 1);
    const failures: OnFailureRecord[] = [];
    const ok = new Set<number>();
    const esm = mappingOf(journal, {
      checkpoints: new MemoryStateStore(),
      batchSize: 16,
      maxRetryAttempts: 2,
      retryBackoffMs: 1,
      handler: async (e) => {
        const ids = docsOf(e);
        if (ids.includes(11)) throw new Error('poison');
        for (const i of ids) ok.add(i);
      },
      onFailure: async (r) => {
        failures.push(r);
      },
    });
    await esm.drain();
    expect(failures.length).toBe(1);
    expect(failures[0]).toMatchObject({
      batchSize: 1,
      reason: 'RetryAttemptsExhausted',
      error: 'Error: poison',
    });
    const poisonSeq = (await journal.read('c', 'shardId-000000000000', undefined, 100)).records[11]
      .sequenceNumber;
    expect(failures[0].startSequenceNumber).toBe(poisonSeq);
    expect([...ok].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 16 }, (_, i) => i).filter((i) => i !== 11),
    );
    expect(esm.stats.failures).toBe(1);
  });

  it('a crash before the checkpoint makes a restarted mapping redeliver the batch (at least once)', async () => {
    const journal = await fill(6, 1);
    const state = new MemoryStateStore();
    const first: number[] = [];
    const crashing = mappingOf(journal, {
      checkpoints: state,
      batchSize: 3,
      handler: async (e) => {
        first.push(...docsOf(e));
      },
      beforeCheckpoint: () => {
        if (first.length > 3) throw new CrashError('before checkpoint');
      },
    });
    await expect(crashing.drain()).rejects.toThrow(CrashError);
    expect(first).toEqual([0, 1, 2, 3, 4, 5]);
    const second: number[] = [];
    const restarted = mappingOf(journal, {
      checkpoints: state,
      batchSize: 3,
      handler: async (e) => {
        second.push(...docsOf(e));
      },
    });
    await restarted.drain();
    expect(second).toEqual([3, 4, 5]);
  });

  it('a lost checkpoint (the poller died after the function returned) redelivers the batch, and the mapping goes on', async () => {
    const journal = await fill(6, 1);
    const state = new MemoryStateStore();
    const seen: number[][] = [];
    let checkpoints = 0;
    const esm = mappingOf(journal, {
      checkpoints: state,
      batchSize: 3,
      handler: async (e) => {
        seen.push(docsOf(e));
      },
      beforeCheckpoint: () => {
        if (++checkpoints === 2) throw new CheckpointLostError('second batch');
      },
    });
    await esm.drain();
    // The second batch, fully applied, came again; nothing after it was delivered before it.
    expect(seen).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [3, 4, 5],
    ]);
    expect(esm.stats.lostCheckpoints).toBe(1);
    const last = (await journal.read('c', 'shardId-000000000000', undefined, 100)).records[5].sequenceNumber;
    expect((await state.getCheckpoint('esm:t:c', 'shardId-000000000000'))?.replace(/^0+/, '')).toBe(last);
  });

  it('records older than MaximumRecordAgeInSeconds go to the on-failure destination', async () => {
    const journal = await fill(3, 1);
    const failures: OnFailureRecord[] = [];
    let invoked = 0;
    const esm = mappingOf(journal, {
      checkpoints: new MemoryStateStore(),
      maxRecordAgeSeconds: 60,
      now: () => Date.now() + 3_600_000,
      handler: async () => {
        invoked++;
      },
      onFailure: async (r) => {
        failures.push(r);
      },
    });
    await esm.drain();
    expect(invoked).toBe(0);
    expect(failures.map((f) => [f.reason, f.batchSize])).toEqual([['RecordAgeExceeded', 3]]);
  });

  it('nudge() ends an idle wait: records put after the mapping went idle are delivered at once, not a poll interval later', async () => {
    const journal = await fill(0);
    const delivered: number[] = [];
    const esm = mappingOf(journal, {
      checkpoints: new MemoryStateStore(),
      // An idle interval far beyond the test's patience: only a nudge can make this delivery prompt.
      idlePollMs: 60_000,
      handler: async () => {
        delivered.push(Date.now());
        return undefined;
      },
    });
    esm.start();
    try {
      // Let the first (empty) poll round finish, so the mapping sits in its idle wait.
      await new Promise((r) => setTimeout(r, 100));
      await journal.append('c', [{ hashKey: evenRanges(2)[0].start.toString(), doc: { i: 1 } }]);
      const put = Date.now();
      esm.nudge();
      const deadline = Date.now() + 5_000;
      while (delivered.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(delivered).toHaveLength(1);
      expect(delivered[0] - put).toBeLessThan(2_000);
    } finally {
      await esm.stop();
    }
  });

  it("cuts a batch at Lambda's 6 MB payload whatever the batch size; the rest follows in order", async () => {
    const journal = new MemoryJournal({ shards: 1, maxRecordBytes: 2 * 1024 * 1024 });
    journal.ensure('c');
    const pad = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 10; i++) await journal.append('c', [{ hashKey: '0', doc: { i, pad } }]);
    const batches: number[][] = [];
    const esm = mappingOf(journal, {
      checkpoints: new MemoryStateStore(),
      batchSize: 100,
      handler: async (e) => {
        const bytes = e.Records.reduce((n, r) => n + r.kinesis.data.length, 0);
        expect(bytes).toBeLessThanOrEqual(MAX_EVENT_BYTES);
        batches.push(docsOf(e));
      },
    });
    await esm.drain();
    expect(batches.flat()).toEqual(Array.from({ length: 10 }, (_, i) => i));
    // 1 MiB of document is ≈ 1.33 MiB of base64: four records to an event.
    expect(Math.max(...batches.map((b) => b.length))).toBe(4);
  });
});
