/**
 * The adapter edge (functions/edge.ts) and the Kinesis entry's metrics (functions/telemetry.ts): a
 * Kinesis event becomes one decoded batch (collection from the stream ARN, shard, documents with their
 * positions, record bytes), and each invocation emits DocsIn/BytesIn from the batch and
 * DocsOut/BytesOut/DocsSkipped from the task's own counters, in CloudWatch's embedded metric format.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpRequest, httpResult, kinesisBatch } from '../../functions/edge.ts';
import { type BatchTask, kinesisEntry } from '../../functions/telemetry.ts';
import { BackfillError } from '../../shared/backfill/lease.ts';
import { type DocBatch, decodeRecords, recordsToEvent } from '../../shared/ports/events.ts';
import { packFrame } from '../../shared/ports/framing.ts';
import type { JournalRecord } from '../../shared/ports/journal.ts';

const ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/acme_orders';

function record(seq: string, docs: unknown[]): JournalRecord {
  return {
    shardId: 'shardId-000000000001',
    sequenceNumber: seq,
    partitionKey: 'k',
    data: packFrame(docs.map((d) => Buffer.from(JSON.stringify(d)))),
    arrivalMs: 1_700_000_000_123,
  };
}

// Records one byte apart in size, so every base64 padding case is counted; the last packs two documents.
const records = [
  record('101', [{ id: 1, p: '' }]),
  record('102', [{ id: 2, p: 'x' }]),
  record('103', [{ id: 3, p: 'xx' }]),
  record('104', [{ id: 4 }, { id: 'five' }]),
];

describe('kinesisBatch', () => {
  it('decodes an event into one batch: collection by ARN, shard, documents in order, record bytes', () => {
    expect(new Set(records.map((r) => r.data.length % 3)).size).toBe(3);
    const arns: string[] = [];
    const batch = kinesisBatch(recordsToEvent(records, ARN), (arn) => {
      arns.push(arn);
      return 'acme/orders';
    });
    expect(arns).toEqual([ARN]);
    expect(batch?.collection).toBe('acme/orders');
    expect(batch?.shardId).toBe('shardId-000000000001');
    expect(batch?.bytes).toBe(records.reduce((n, r) => n + r.data.length, 0));
    expect(batch?.docs.map((d) => d.doc)).toEqual([
      { id: 1, p: '' },
      { id: 2, p: 'x' },
      { id: 3, p: 'xx' },
      { id: 4 },
      { id: 'five' },
    ]);
    // The same documents and positions as reading the journal directly (a backfill, a test).
    expect(batch).toEqual(decodeRecords('acme/orders', records));
  });

  it('an empty event is no batch', () => {
    expect(kinesisBatch({ Records: [] }, () => 'x')).toBeUndefined();
  });
});

describe('Function URL requests', () => {
  it('decodes a base64 body, method, path, query; answers with the task status, headers and body', () => {
    const req = httpRequest({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/acme/ingest/events',
      rawQueryString: 'a=1&b=x%20y',
      headers: { 'content-type': 'application/json' },
      isBase64Encoded: true,
      body: Buffer.from('[{"id":1}]').toString('base64'),
      requestContext: { http: { method: 'post' } },
    } as never);
    expect(req).toEqual({
      method: 'POST',
      path: '/acme/ingest/events',
      headers: { 'content-type': 'application/json' },
      query: { a: '1', b: 'x y' },
      body: Buffer.from('[{"id":1}]'),
    });
    expect(httpResult({ status: 400, headers: { a: 'b' }, body: '{}' })).toEqual({
      statusCode: 400,
      headers: { a: 'b' },
      body: '{}',
    });
  });
});

/**
 * Runs as the Lambda of `service` (persister-fn's environment) and captures what it writes: returns the
 * EMF metric lines written so far (the mocks restored), each parsed.
 */
function captureEmf(service: string, fnName = 'persister-fn'): () => Record<string, unknown>[] {
  process.env.AWS_LAMBDA_FUNCTION_NAME = fnName;
  process.env.POWERTOOLS_METRICS_NAMESPACE = 'Sluice';
  process.env.POWERTOOLS_SERVICE_NAME = service;
  delete process.env.SLUICE_TASK;
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  for (const level of ['log', 'info'] as const)
    vi.spyOn(console, level).mockImplementation((...a: unknown[]) => {
      lines.push(a.map(String).join(' '));
    });
  vi.spyOn(console, 'error').mockImplementation(() => {});
  return () => {
    vi.restoreAllMocks();
    return lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
}

describe('kinesisEntry metrics', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    vi.restoreAllMocks();
  });

  it("emits DocsIn/BytesIn from the batch and DocsOut/BytesOut/DocsSkipped from the task's counters", async () => {
    const emfLines = captureEmf('persister:acme/orders', 'persister-fn');
    const counters = { docsOut: 10, bytesOut: 500, docsSkipped: 1 };
    const seen: DocBatch[] = [];
    const task: BatchTask = {
      collectionOfArn: () => 'acme/orders',
      onBatch: async (b) => {
        seen.push(b);
        counters.docsOut += 4;
        counters.bytesOut += 321;
        counters.docsSkipped += 2;
      },
      counters: () => ({ ...counters }),
    };
    const handler = kinesisEntry(() => task);
    await handler(recordsToEvent(records, ARN));
    const emf = emfLines();
    expect(seen).toHaveLength(1);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      DocsIn: 5,
      BytesIn: records.reduce((n, r) => n + r.data.length, 0),
      DocsOut: 4,
      BytesOut: 321,
      DocsSkipped: 2,
      service: 'persister:acme/orders',
    });
  });

  it('a failed invocation counts no DocsIn (a halted shard is not throughput), only TaskErrors', async () => {
    const emfLines = captureEmf('persister:acme/orders', 'persister-fn');
    const task: BatchTask = {
      collectionOfArn: () => 'acme/orders',
      onBatch: async () => {
        throw new Error('cannot write');
      },
      counters: () => ({ docsOut: 0 }),
    };
    const handler = kinesisEntry(() => task);
    await expect(handler(recordsToEvent(records, ARN))).rejects.toThrow('cannot write');
    const emf = emfLines();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ TaskErrors: 1 });
    expect(emf[0].DocsIn).toBeUndefined();
  });

  it('a batch that waited for a backfill is handed back from its first record: no function error, no TaskErrors', async () => {
    const emfLines = captureEmf('materialization:acme/wh', 'materialize-fn');
    let fail: Error = new BackfillError('BackfillInProgress', 'acme/wh', 'binding 1 is backfilling');
    const handler = kinesisEntry(() => ({
      collectionOfArn: () => 'acme/orders',
      onBatch: async () => {
        throw fail;
      },
      counters: () => ({ docsOut: 0 }),
    }));
    const answer = await handler(recordsToEvent(records, ARN));
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: '101' }] });
    // Any other failure still throws (the shard halts), and counts.
    fail = new Error('boom');
    await expect(handler(recordsToEvent(records, ARN))).rejects.toThrow('boom');
    const emf = emfLines();
    // The batch that waited counted nothing (its documents come again); the failure counts one error.
    expect(emf.map((m) => m.TaskErrors ?? 0)).toEqual([1]);
  });
});
