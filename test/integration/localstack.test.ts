/**
 * The local stack end to end, through the synthesized cloud assembly (what `cdk deploy` ships): each
 * function runs from its bundle in Lambda's sandbox under its role's policies, against the real
 * emulators (kinesalite, dynalite, s3rver): HTTP ingest → derivation (sums per user) → DynamoDB
 * materialization, compared with an oracle computed from what was sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runRead } from '../../cli/read.ts';
import { DynamoStateStore, DynamoTable } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import { reducedDocs } from '../../shared/console/collections.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { CrashError } from '../../shared/local/esm.ts';
import type { MaterializeConnector } from '../../shared/materialize/connector.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { type SumEvent, sumEvents, sumOracle } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-it-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

type Event = SumEvent;
const events = (n: number, from = 0): Event[] => sumEvents(n, from, { users: 7, mul: 37, mod: 101 });
const oracle = sumOracle;

async function post(runner: AssemblyRunner, body: string, contentType = 'application/json') {
  const res = await fetch(`${runner.ingestUrl}/test/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function materialized(runner: AssemblyRunner) {
  const c = new DynamoDbConnector({
    spec: fixture.catalog.materializations['test/to-dynamo'],
    catalog: fixture.catalog,
    client: runner.admin.dynamodb,
  });
  const items = await c.items(0);
  return Object.fromEntries(
    items.map((i) => [i.user as string, { count: i.count as number, total: i.total as number }]),
  );
}

function stateOf(runner: AssemblyRunner): DynamoStateStore {
  return new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
}

async function view(runner: AssemblyRunner, collection: string) {
  const out: unknown[] = [];
  for await (const it of stateOf(runner).scan(collection)) out.push(it.doc);
  return out;
}

async function start(dataDir: string, extra: Partial<Parameters<typeof startAssembly>[1]> = {}) {
  return startAssembly(FIXTURE, { dataDir, ...extra });
}

describe('local stack end to end', () => {
  it('HTTP ingest → derivation → DynamoDB equals the reduction of what was sent; invalid input → 400, nothing written', async () => {
    const dataDir = tempDir();
    const runner = await start(dataDir);
    cleanup.push(() => runner.stop());
    const a = events(120);
    const b = events(80, 120);
    expect((await post(runner, JSON.stringify(a))).status).toBe(200);
    // JSON lines are accepted too.
    expect(
      (await post(runner, b.map((e) => JSON.stringify(e)).join('\n'), 'application/x-ndjson')).status,
    ).toBe(200);
    // One invalid document (index 2) rejects the whole request.
    const bad = [...events(2, 500), { id: 'e502', user: 'u1', amount: 'many' }, ...events(3, 503)];
    const rejected = await post(runner, JSON.stringify(bad));
    expect(rejected.status).toBe(400);
    expect(rejected.body.index).toBe(2);
    expect(String(rejected.body.error)).toMatch(/document 2 of test\/events: \/amount/);
    expect((await post(runner, '{"id": "x", ')).status).toBe(400);
    await runner.drain();
    expect(await materialized(runner)).toEqual(oracle([...a, ...b]));
    // The reduced view of the source collection holds every accepted event, none of the rejected ones.
    const ids = (await view(runner, 'test/events')).map((d) => (d as Event).id).sort();
    expect(ids).toEqual([...a, ...b].map((e) => e.id).sort());
    // Fragments landed in S3 under Hive-style paths, gzipped JSON lines holding every accepted event.
    const place = runner.resources.fragments['test/events'];
    expect(place.folder).toBe('test/events/');
    const blobs = new S3BlobStore({ client: runner.admin.s3, bucket: place.bucket });
    const keys = await blobs.list(place.folder);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys)
      expect(k).toMatch(
        /^test\/events\/pivot=shardId-\d+\/utc_date=\d{4}-\d{2}-\d{2}\/utc_hour=\d{2}\/\d+-\d+\.json\.gz$/,
      );
    const fragmentIds: string[] = [];
    for (const k of keys)
      for (const line of gunzipSync(Buffer.from((await blobs.get(k))!))
        .toString()
        .trim()
        .split('\n'))
        fragmentIds.push((JSON.parse(line) as Event).id);
    expect(fragmentIds.sort()).toEqual([...a, ...b].map((e) => e.id).sort());
    // Billable units were counted off the wire, by the functions' proxies.
    const usage = runner.meter.usage;
    expect(usage.kinesisRecords).toBeGreaterThan(0);
    expect(usage.kinesisRecords).toBeLessThan(200); // 200 events + 200 derived documents, packed
    expect(usage.dynamoWriteUnits).toBeGreaterThan(0);
    expect(usage.s3PutRequests).toBe(keys.length + (await blobs.list('test/totals/')).length);
    expect(usage.lambdaInvocations).toBeGreaterThan(0);

    // `sluice read` on the stopped stack: the reduced documents as JSON lines, in key order.
    await runner.stop();
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).trim().split('\n'));
        cb();
      },
    });
    expect(await runRead('test/totals', { catalog: FIXTURE, data: dataDir }, sink)).toBe(0);
    const read = lines.map((l) => JSON.parse(l) as { user: string; count: number; total: number });
    const expected = oracle([...a, ...b]);
    expect(read.map((d) => d.user)).toEqual(Object.keys(expected).sort());
    expect(Object.fromEntries(read.map((d) => [d.user, { count: d.count, total: d.total }]))).toEqual(
      expected,
    );
  });

  it('views: a collection left out keeps no reduced view (fragments only), the others do; `sluice read` says why it cannot read it', async () => {
    const dataDir = tempDir();
    // As `cdk deploy -c views='["test/totals"]' -c eventSource='{"maxBatchingWindow":0}'`.
    const runner = await start(dataDir, {
      context: { views: '["test/totals"]', eventSource: '{"maxBatchingWindow":0}' },
    });
    cleanup.push(() => runner.stop());
    const persister = runner.template.functions.find(
      (f) => f.environment.SLUICE_TASK === 'test/events' && f.environment.SLUICE_VIEW,
    );
    expect(persister?.environment.SLUICE_VIEW).toBe('off');
    for (const m of runner.template.mappings.filter((x) => !x.functionLogicalId.includes('Persister')))
      expect(m.maxBatchingWindowSeconds, m.logicalId).toBe(0);
    const a = events(150);
    expect((await post(runner, JSON.stringify(a))).status).toBe(200);
    await runner.drain();
    expect(await materialized(runner)).toEqual(oracle(a));
    expect(await view(runner, 'test/events')).toEqual([]);
    expect((await view(runner, 'test/totals')).length).toBe(Object.keys(oracle(a)).length);
    // Every event is still in the collection's fragments.
    const place = runner.resources.fragments['test/events'];
    const blobs = new S3BlobStore({ client: runner.admin.s3, bucket: place.bucket });
    let lines = 0;
    for (const k of await blobs.list(place.folder))
      lines += gunzipSync(Buffer.from((await blobs.get(k))!))
        .toString()
        .trim()
        .split('\n').length;
    expect(lines).toBe(a.length);
    // The console's collection page says why it lists no documents by key.
    expect((await reducedDocs(runner, fixture.catalog, 'test/events', {})).noView).toMatch(
      /keeps no reduced view/,
    );
    expect((await reducedDocs(runner, fixture.catalog, 'test/totals', {})).docs.length).toBeGreaterThan(0);
    await runner.stop();
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => errors.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      expect(
        await runRead(
          'test/events',
          { catalog: FIXTURE, data: dataDir },
          new Writable({ write: (_c, _e, cb) => cb() }),
        ),
      ).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toMatch(/test\/events keeps no reduced view.*views/);
  });

  it('materialize-dynamodb: a full-reduction delete removes the document; later documents re-create it', async () => {
    const runner = await start(tempDir());
    cleanup.push(() => runner.stop());
    const url = `${runner.ingestUrl}/test/ingest/accounts`;
    const send = async (docs: unknown[]) =>
      (
        await fetch(url, {
          method: 'POST',
          body: JSON.stringify(docs),
          headers: { 'content-type': 'application/json' },
        })
      ).status;
    expect(
      await send([
        { id: 'a', balance: 5 },
        { id: 'b', balance: 1 },
        { id: 'c', balance: 2 },
      ]),
    ).toBe(200);
    await runner.drain();
    expect(await send([{ id: 'a', balance: 3 }])).toBe(200);
    expect(await send([{ id: 'b', _meta: { op: 'd' } }])).toBe(200);
    expect(await send([{ id: 'c', _meta: { op: 'd' } }])).toBe(200);
    expect(await send([{ id: 'c', balance: 7 }])).toBe(200);
    await runner.drain();
    const c = new DynamoDbConnector({
      spec: fixture.catalog.materializations['test/to-dynamo'],
      catalog: fixture.catalog,
      client: runner.admin.dynamodb,
    });
    const items = (await c.items(1)).map((i) => [i.id, i.balance]).sort();
    expect(items).toEqual([
      ['a', 8],
      ['c', 7],
    ]);
    // b is really gone from the user table (no tombstone item there: its positions are in the state table)
    const raw = await new DynamoTable({
      client: runner.admin.dynamodb,
      table: 'test_accounts',
      partitionKey: { name: 'id', type: 'S' },
    }).scanAll();
    expect(raw.map((i) => i.id).sort()).toEqual(['a', 'c']);
    expect(raw.every((i) => i._sluice_deleted === undefined)).toBe(true);
    // a replay of the whole journal through a task that knows no checkpoint (only the per-item positions
    // and the tombstones guard it) changes nothing: b is not resurrected, sums are not doubled
    const inner = new DynamoDbConnector({
      spec: fixture.catalog.materializations['test/to-dynamo'],
      catalog: fixture.catalog,
      client: runner.admin.dynamodb,
      stateTable: runner.resources.stateTable,
    });
    const blind: MaterializeConnector = {
      apply: () => inner.apply(),
      open: async () => ({ checkpoint: {} }),
      load: (b, k) => inner.load(b, k),
      loadApplied: (b, k) => inner.loadApplied(b, k),
      commit: (t) => inner.commit(t),
      close: () => inner.close(),
    };
    const replay = new MaterializeTask(
      fixture.catalog.materializations['test/to-dynamo'],
      fixture.catalog,
      new SchemaRegistry(fixture.catalog.schemas),
      blind,
    );
    const stream = runner.resources.streams['test/accounts'];
    const journal = new KinesisJournal({ client: runner.admin.kinesis, streamName: () => stream });
    for (const shard of await journal.listShards('test/accounts')) {
      const r = await journal.read('test/accounts', shard.shardId, undefined, 1000);
      if (r.records.length > 0) await replay.onBatch(decodeRecords('test/accounts', r.records));
    }
    expect(replay.stats.docsSkipped).toBeGreaterThan(0);
    expect((await c.items(1)).map((i) => [i.id, i.balance]).sort()).toEqual([
      ['a', 8],
      ['c', 7],
    ]);
    expect((await view(runner, 'test/accounts')).map((d) => (d as { id: string }).id)).toEqual(['a', 'c']);
  });

  const crashPoints: [string, string][] = [
    ['after the derivation appended to the journal, before its checkpoint', 'derivation:test/totals'],
    ['after the DynamoDB materialization write, before its checkpoint', 'materialization:test/to-dynamo'],
    ['after the reduced-view write, before the persister checkpoint', 'persister:test/totals'],
  ];
  for (const [what, task] of crashPoints) {
    it(`killed ${what} and restarted: nothing lost, nothing double-counted`, async () => {
      const dataDir = tempDir();
      let crashes = 0;
      const runner = await start(dataDir, {
        beforeCheckpoint: (t) => {
          if (t === task && crashes++ === 1) throw new CrashError(`${t} before checkpoint`);
        },
      });
      const sent = events(300);
      for (let i = 0; i < 300; i += 100)
        expect((await post(runner, JSON.stringify(sent.slice(i, i + 100)))).status).toBe(200);
      await expect(runner.drain()).rejects.toThrow(CrashError);
      expect(crashes).toBe(2);
      await runner.stop();
      // Restart on the same data: the journal, state and checkpoints survived.
      const again = await start(dataDir);
      cleanup.push(() => again.stop());
      const more = events(50, 300);
      expect((await post(again, JSON.stringify(more))).status).toBe(200);
      await again.drain();
      const expected = oracle([...sent, ...more]);
      expect(await materialized(again)).toEqual(expected);
      const totals = await view(again, 'test/totals');
      expect(
        Object.fromEntries(
          totals.map((d) => {
            const t = d as { user: string; count: number; total: number };
            return [t.user, { count: t.count, total: t.total }];
          }),
        ),
      ).toEqual(expected);
    });
  }

  it("injected throttling and failures of the functions' own AWS calls, on the wire, lose nothing", async () => {
    const injected = { throttled: 0, failed: 0 };
    let dynamoWrites = 0;
    const runner = await start(tempDir(), {
      hooks: {
        // Kinesis throttles whole PutRecords calls; DynamoDB fails writes with a 500: the tasks must retry
        // (or fail the batch for the mapping to retry), never skip.
        before: (c) => {
          const action = c.iam[0]?.action;
          // Not the ingest function's appends: a client retrying a request that failed after a partial
          // append would publish duplicates (ingest idempotency keys are not built yet).
          if (
            action === 'kinesis:PutRecords' &&
            !c.functionName.includes('Captures') &&
            injected.throttled < 3
          ) {
            injected.throttled++;
            return {
              status: 400,
              headers: { 'content-type': 'application/x-amz-json-1.1' },
              body: JSON.stringify({
                __type: 'ProvisionedThroughputExceededException',
                message: 'Rate exceeded for shard',
              }),
            };
          }
          if (
            (action === 'dynamodb:PutItem' || action === 'dynamodb:BatchWriteItem') &&
            ++dynamoWrites % 10 === 0
          ) {
            injected.failed++;
            return {
              status: 500,
              headers: { 'content-type': 'application/x-amz-json-1.0' },
              body: JSON.stringify({
                __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
                message: 'injected',
              }),
            };
          }
          return undefined;
        },
      },
    });
    cleanup.push(() => runner.stop());
    const sent = events(400);
    for (let i = 0; i < 400; i += 50) {
      expect((await post(runner, JSON.stringify(sent.slice(i, i + 50)))).status).toBe(200);
    }
    await runner.drain();
    expect(injected.throttled).toBeGreaterThan(0);
    expect(injected.failed).toBeGreaterThan(0);
    expect(await materialized(runner)).toEqual(oracle(sent));
  });
});
