/**
 * Reduced documents too large for a DynamoDB item (issue 9, item 3) and the pruning of `applied` maps
 * (issue 10, item 8), on dynalite (which enforces the 400 KB item limit) and s3rver: the persister's
 * reduced view of a document that grows past 400 KB through `append` is stored in S3 behind a pointer,
 * read back equal by every reader (the persister's own load, scan as `sluice read` does, the console's
 * page), and goes back inline when it shrinks.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import type { CollectionSpec } from '../../shared/catalog/model.ts';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import { packKey } from '../../shared/keys/pack.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { viewSpillFolder } from '../../shared/persist/place.ts';
import { PersistTask } from '../../shared/persist/task.ts';
import type { DocBatch } from '../../shared/ports/events.ts';
import { encodePosition } from '../../shared/ports/position.ts';
import { pruneApplied } from '../../shared/ports/state.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';

let emulators: Emulators;
let clients: AwsClients;
beforeAll(async () => {
  ({ emulators, clients } = await startStack());
});
afterAll(async () => {
  await emulators?.stop();
});

const URI = 'file:///fixtures/logs.schema.json';
/** `log` grows by `append`; a document with `reset: true` replaces it (so the document can shrink). */
const schema = {
  $id: URI,
  type: 'object',
  required: ['id', 'log'],
  reduce: { strategy: 'merge' },
  properties: { id: { type: 'string' }, log: { type: 'array', items: { type: 'string' } } },
  if: { required: ['reset'], properties: { reset: { const: true } } },
  // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
  then: { properties: { log: { reduce: { strategy: 'lastWriteWins' } } } },
  else: { properties: { log: { reduce: { strategy: 'append' } } } },
};
const loc = { file: '/fixtures/flow.yaml', line: 1, col: 1, pointer: '' };
const spec: CollectionSpec = {
  name: 'acme/logs',
  writeSchema: URI,
  readSchema: URI,
  key: ['/id'],
  projections: {},
  source: loc,
};

/** One batch of one shard: documents at sequence numbers `seq`, `seq + 1`, … */
function batch(seq: number, docs: JsonObject[]): DocBatch {
  return {
    collection: spec.name,
    shardId: 'shardId-000',
    bytes: 0,
    docs: docs.map((doc, i) => {
      const position = encodePosition(String(seq + i), 0);
      return {
        doc,
        shardId: 'shardId-000',
        sequenceNumber: String(seq + i),
        index: 0,
        streamPosition: position,
        source: `${spec.name}/shardId-000`,
        position,
        arrivalMs: Date.UTC(2026, 10, 29),
      };
    }),
  };
}

/** 100 KB of log lines, distinct per step (so no two documents of the test are alike). */
const lines = (step: number): string[] =>
  Array.from({ length: 100 }, (_, i) => `${step}:${i}:`.padEnd(1000, String.fromCharCode(97 + (step % 26))));

describe('reduced documents over the item limit spill to S3', () => {
  it('a document growing past 400 KB through append is stored, read back equal everywhere, and goes back inline when it shrinks', async () => {
    const table = uniqueName('state');
    const bucket = uniqueName('frags');
    const blobs = new S3BlobStore({ client: clients.s3, bucket });
    await blobs.ensureBucket();
    const state = new DynamoStateStore({
      client: clients.dynamodb,
      table,
      spillTo: (c) => ({ bucket, prefix: viewSpillFolder('flow/acme/logs/', c) }),
      blobs: (b) => new S3BlobStore({ client: clients.s3, bucket: b }),
    });
    await state.ensureTable();
    const persist = new PersistTask(
      spec,
      new SchemaRegistry({ [URI]: schema }),
      blobs,
      state,
      'flow/acme/logs/',
    );
    const key = packKey(['k1']);
    const raw = async () =>
      (
        await clients.dynamodb.send(
          new GetItemCommand({
            TableName: table,
            Key: { p: { S: 's#acme/logs' }, k: { B: key } },
            ConsistentRead: true,
          }),
        )
      ).Item;
    // A reader that was not configured for S3 (the console and `sluice read` are) names the problem.
    const blind = new DynamoStateStore({ client: clients.dynamodb, table });

    let expected: string[] = [];
    let seq = 100;
    for (let step = 0; step < 6; step++) {
      await persist.onBatch(batch(seq, [{ id: 'k1', log: lines(step) }]));
      seq += 1;
      expected = expected.concat(lines(step));
      const want = { id: 'k1', log: expected };
      expect((await state.load(spec.name, [key])).get(key.toString('hex'))?.doc).toEqual(want);
      const scanned: Json[] = [];
      for await (const it of state.scan(spec.name)) scanned.push(it.doc as Json);
      expect(scanned).toEqual([want]);
      expect((await state.page(spec.name, { limit: 5 })).items.map((i) => i.doc)).toEqual([want]);
    }
    // 600 KB of log: over DynamoDB's limit, so the item points at S3 and holds no document itself.
    expect(JSON.stringify(expected).length).toBeGreaterThan(400 * 1024);
    const item = await raw();
    expect(item?.d).toBeUndefined();
    const ref = item?.r?.S ?? '';
    expect(ref).toMatch(new RegExp(`^s3://${bucket}/flow/_sluice/spill/view/acme/logs/[0-9a-f]{64}\\.json$`));
    const object = await blobs.get(ref.slice(`s3://${bucket}/`.length));
    expect(JSON.parse(Buffer.from(object ?? []).toString())).toEqual({ id: 'k1', log: expected });
    await expect(blind.load(spec.name, [key])).rejects.toMatchObject({ code: 'SpillUnreadable' });
    // Beside the fragment folder, not in it: a fragments retention rule or a backfill listing never meets it.
    const listed = await blobs.list('flow/acme/logs/');
    expect(listed.length).toBe(6);
    expect(listed.every((k) => k.includes('/pivot=shardId-000/'))).toBe(true);

    // A redelivered batch changes nothing (its position is in `applied`): no write, same pointer.
    const written = persist.stats.keysWritten;
    await persist.onBatch(batch(seq - 1, [{ id: 'k1', log: lines(5) }]));
    expect(persist.stats.keysWritten).toBe(written);
    expect((await raw())?.r?.S).toBe(ref);

    // It shrinks: inline again, no pointer left.
    await persist.onBatch(batch(seq, [{ id: 'k1', log: ['small'], reset: true }]));
    const small = await raw();
    expect(small?.r).toBeUndefined();
    expect(JSON.parse(small?.d?.S ?? 'null')).toEqual({ id: 'k1', log: ['small'], reset: true });
    expect((await state.load(spec.name, [key])).get(key.toString('hex'))?.doc).toEqual({
      id: 'k1',
      log: ['small'],
      reset: true,
    });
    // And grows again through append.
    await persist.onBatch(batch(seq + 1, [{ id: 'k1', log: ['more'] }]));
    expect((await state.load(spec.name, [key])).get(key.toString('hex'))?.doc).toEqual({
      id: 'k1',
      log: ['small', 'more'],
      reset: true,
    });
  });
});

describe('applied maps are pruned of sources no redelivery can reach', () => {
  const p = (n: number) => encodePosition(String(n), 0);

  it('pruneApplied keeps entries that moved within the horizon (or whose time is unknown), drops the others', () => {
    const res = pruneApplied(
      { 'c/shard-0': p(1), 'c/shard-1': p(2), 'c/shard-2': p(4), 'c/shard-3': p(5) },
      { 'c/shard-0': 1000, 'c/shard-1': 5000, 'c/shard-3': 2000 },
      10_000,
      8000,
    );
    // shard-0 last moved 9,000 s ago (> 8,000): pruned; shard-3 exactly 8,000 s ago: kept.
    // shard-2 has no time (written before times were kept): kept, as of now.
    expect(res.applied).toEqual({ 'c/shard-1': p(2), 'c/shard-2': p(4), 'c/shard-3': p(5) });
    expect(res.at).toEqual({ 'c/shard-1': 5000, 'c/shard-2': 10_000, 'c/shard-3': 2000 });
    expect(res.pruned).toEqual(['c/shard-0']);
  });

  it('redrive sources are never pruned: a parked document may be redriven again any time', () => {
    const res = pruneApplied(
      { 'c/redrive-shard-0': p(1), 'd/shard-0#redrive': p(2), 'c/shard-0': p(3) },
      { 'c/redrive-shard-0': 0, 'd/shard-0#redrive': 0, 'c/shard-0': 0 },
      10_000,
      8000,
    );
    expect(res.applied).toEqual({ 'c/redrive-shard-0': p(1), 'd/shard-0#redrive': p(2) });
  });

  it('the state store stamps when each source moved and drops a parent shard once the horizon passed', async () => {
    let now = 1_800_000_000;
    const horizon = 48 * 3600;
    const state = new DynamoStateStore({
      client: clients.dynamodb,
      table: uniqueName('state'),
      appliedHorizonSeconds: horizon,
      nowSeconds: () => now,
    });
    await state.ensureTable();
    const key = Buffer.from([1]);
    const loaded = async () => (await state.load('c', [key])).get('01');
    // Written from the parent shard, then (after a split) from its child.
    await state.write('c', [{ key, doc: { n: 1 }, expected: undefined, applied: { 'c/parent': p(5) } }]);
    let cur = await loaded();
    expect(cur?.appliedAt).toEqual({ 'c/parent': now });
    now += 3600;
    await state.write('c', [
      {
        key,
        doc: { n: 2 },
        expected: cur?.applied,
        applied: { 'c/parent': p(5), 'c/child': p(9) },
        appliedAt: cur?.appliedAt,
      },
    ]);
    cur = await loaded();
    // The parent entry did not move: it keeps its time.
    expect(cur?.appliedAt).toEqual({ 'c/parent': now - 3600, 'c/child': now });
    expect(cur?.applied).toEqual({ 'c/parent': p(5), 'c/child': p(9) });
    // Within the horizon nothing is pruned; past it (the parent's records are gone from the stream), it is.
    now += horizon - 3600;
    await state.write('c', [
      {
        key,
        doc: { n: 3 },
        expected: cur?.applied,
        applied: { ...cur?.applied, 'c/child': p(10) },
        appliedAt: cur?.appliedAt,
      },
    ]);
    cur = await loaded();
    expect(Object.keys(cur?.applied ?? {}).sort()).toEqual(['c/child', 'c/parent']);
    now += 2;
    await state.write('c', [
      {
        key,
        doc: { n: 4 },
        expected: cur?.applied,
        applied: { ...cur?.applied, 'c/child': p(11) },
        appliedAt: cur?.appliedAt,
      },
    ]);
    cur = await loaded();
    expect(cur?.applied).toEqual({ 'c/child': p(11) });
    expect(cur?.doc).toEqual({ n: 4 });
    // The pruned map is what the next conditional write expects: it still guards the child's positions.
    const replay = await state.write('c', [
      {
        key,
        doc: { n: 99 },
        expected: { 'c/parent': p(5), 'c/child': p(10) },
        applied: { 'c/child': p(11) },
      },
    ]);
    expect(replay.conflicts).toEqual(['01']);
  });
});
