/**
 * The local stack end to end, against the real emulators (kinesalite, dynalite, s3rver) and the same
 * handler functions the Lambdas run: HTTP ingest → derivation (sums per user) → DynamoDB
 * materialization, compared with an oracle computed from what was sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runRead } from '../../cli/read.ts';
import { EMULATOR_CREDENTIALS, makeClients } from '../../shared/adapters/clients.ts';
import { DynamoTable } from '../../shared/adapters/dynamodb.ts';
import { recordsToEvent } from '../../shared/backfill/fragments.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import { CrashError } from '../../shared/local/esm.ts';
import { LocalRunner } from '../../shared/local/runner.ts';
import type { MaterializeConnector } from '../../shared/materialize/connector.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import { injectKinesisFaults, type SumEvent, sumEvents, sumOracle } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
let catalog: BuiltCatalog;
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  const r = await loadCatalog(FIXTURE);
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  catalog = r.catalog;
});

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-it-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

type Event = SumEvent;
const events = (n: number, from = 0): Event[] => sumEvents(n, from, { users: 7, mul: 37, mod: 101 });
const oracle = sumOracle;

async function post(runner: LocalRunner, body: string, contentType = 'application/json') {
  const res = await fetch(`http://127.0.0.1:${runner.ingestPort}/test/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function materialized(runner: LocalRunner) {
  const c = new DynamoDbConnector({
    spec: catalog.materializations['test/to-dynamo'],
    catalog,
    client: runner.rt.clients.dynamodb,
  });
  const items = await c.items(0);
  return Object.fromEntries(
    items.map((i) => [i.user as string, { count: i.count as number, total: i.total as number }]),
  );
}

async function view(runner: LocalRunner, collection: string) {
  const out: unknown[] = [];
  for await (const it of runner.rt.state.scan(collection)) out.push(it.doc);
  return out;
}

async function start(dataDir: string, extra: Partial<Parameters<typeof LocalRunner.start>[0]> = {}) {
  const runner = await LocalRunner.start({ catalog, dataDir, port: 0, shards: 2, batchSize: 50, ...extra });
  return runner;
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
    const blobs = runner.rt.blobs('sluice-fragments');
    const keys = await blobs.list('test/events/');
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
    // Billable units were counted by the adapters.
    const usage = runner.rt.meter.usage;
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

  it('materialize-dynamodb: a full-reduction delete removes the document; later documents re-create it', async () => {
    const runner = await start(tempDir());
    cleanup.push(() => runner.stop());
    const url = `http://127.0.0.1:${runner.ingestPort}/test/ingest/accounts`;
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
      spec: catalog.materializations['test/to-dynamo'],
      catalog,
      client: runner.rt.clients.dynamodb,
    });
    const items = (await c.items(1)).map((i) => [i.id, i.balance]).sort();
    expect(items).toEqual([
      ['a', 8],
      ['c', 7],
    ]);
    // b is really gone from the user table (no tombstone item there: its positions are in the state table)
    const raw = await new DynamoTable({
      client: runner.rt.clients.dynamodb,
      table: 'test_accounts',
      partitionKey: { name: 'id', type: 'S' },
    }).scanAll();
    expect(raw.map((i) => i.id).sort()).toEqual(['a', 'c']);
    expect(raw.every((i) => i._sluice_deleted === undefined)).toBe(true);
    // a replay of the whole journal through a task that knows no checkpoint (only the per-item positions
    // and the tombstones guard it) changes nothing: b is not resurrected, sums are not doubled
    const inner = new DynamoDbConnector({
      spec: catalog.materializations['test/to-dynamo'],
      catalog,
      client: runner.rt.clients.dynamodb,
      stateTable: runner.env.stateTable,
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
      catalog.materializations['test/to-dynamo'],
      catalog,
      runner.rt.registry,
      blind,
    );
    for (const shard of await runner.rt.journal.listShards('test/accounts')) {
      const r = await runner.rt.journal.read('test/accounts', shard.shardId, undefined, 1000);
      if (r.records.length > 0)
        await replay.onEvent(
          'test/accounts',
          recordsToEvent(r.records, runner.rt.streamArn('test/accounts')),
        );
    }
    expect(replay.stats.docsSkipped).toBeGreaterThan(0);
    expect((await c.items(1)).map((i) => [i.id, i.balance]).sort()).toEqual([
      ['a', 8],
      ['c', 7],
    ]);
    expect((await view(runner, 'test/accounts')).map((d) => (d as { id: string }).id)).toEqual(['a', 'c']);
  });

  const crashPoints: [string, string][] = [
    ['after the derivation appended to the journal, before its checkpoint', 'derive:test/totals'],
    ['after the DynamoDB materialization write, before its checkpoint', 'materialize:test/to-dynamo'],
    ['after the reduced-view write, before the persister checkpoint', 'persist:test/totals'],
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

  it('injected partial PutRecords failures and throttling (SDK middleware) lose nothing', async () => {
    const dataDir = tempDir();
    const { startEmulators } = await import('../../shared/local/emulators.ts');
    const emulators = await startEmulators({ dataDir });
    cleanup.push(() => emulators.stop());
    const clients = makeClients({
      region: 'us-east-1',
      endpoints: emulators.endpoints,
      credentials: EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    });
    let seed = 42;
    const faults = injectKinesisFaults(clients.kinesis, {
      failFraction: 0.25,
      throttleFraction: 0.15,
      random: () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      },
    });
    const runner = await start(dataDir, {
      emulators,
      clients,
      journal: { maxRecordBytes: 1500, baseBackoffMs: 1 },
    });
    cleanup.push(() => runner.stop());
    const sent = events(400);
    for (let i = 0; i < 400; i += 50)
      expect((await post(runner, JSON.stringify(sent.slice(i, i + 50)))).status).toBe(200);
    await runner.drain();
    expect(faults.injected.failedRecords).toBeGreaterThan(0);
    expect(faults.injected.throttledCalls).toBeGreaterThan(0);
    expect(await materialized(runner)).toEqual(oracle(sent));
  });
});
