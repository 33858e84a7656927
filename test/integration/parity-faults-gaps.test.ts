/**
 * Parity under the faults parity-faults.test.ts does not inject. The inventory parity catalog (a
 * TypeScript derivation, every reduction strategy, a DynamoDB materialization with standard and
 * delta-updates bindings, two PostgreSQL ones) and the ledger one (a SQLite derivation whose state is
 * committed with conditional DynamoDB writes) run through the deployed assembly, and their views and
 * tables still equal the offline engine's exactly (no document lost, none applied twice). Each fault is
 * capped and counted, and the test asserts each kind fired where it is meant to:
 * - kinesis-partial: a PutRecords with some entries refused and the others appended (FailedRecordCount <
 *   Records.length), on every writer (the capture's ingest, the derivation's publishing);
 * - kinesis-reset / kinesis-hang: a PutRecords applied, then its answer lost (the connection reset, or
 *   silent until dropped);
 * - dynamodb-throttle: the derivations' and the DynamoDB materialization's calls throttled before;
 * - dynamodb-reset / dynamodb-hang: conditional writes (PutItem, UpdateItem, DeleteItem) applied, then
 *   their answer lost (the SDK sends them again and meets its own write's condition), once per task and
 *   action: the derivation's state, the materializations' items, deletions, checkpoints and backfill
 *   lease, the persisters' views;
 * - s3-written-500 / s3-reset: a PutObject (fragments) written, then answered 500 or its connection reset;
 * - checkpoint-lost: the event-source mapping's checkpoint lost after the function returned (the poller
 *   died): the batch, fully applied, is delivered again, on every task a mapping drives.
 * SLUICE_TEST_FAULTS=1 prints what fired, the calls seen and a timeline (faults, invocations).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Combiner } from '../../shared/combine/combiner.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { CheckpointLostError } from '../../shared/local/esm.ts';
import type { LostAnswer, ProxiedCall, ProxyHooks } from '../../shared/local/sandbox/proxy.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type EngineSession, TestRunner } from '../../shared/testing/runner.ts';
import { STEPS } from '../fixtures/parity/inventory/steps.ts';
import { STEPS as LEDGER_STEPS } from '../fixtures/parity/ledger/steps.ts';
import { startAssembly } from '../support/assembly.ts';
import { actionOf, Faults, partialPut, putEntries, taskOf, throttled } from '../support/faults.ts';
import { bare, ingestBoth, type ParityFixture, startParity, view } from './parity-fixture.ts';

const INVENTORY = fileURLToPath(new URL('../fixtures/parity/inventory/flow.yaml', import.meta.url));

/**
 * Movements of SKUs on both shards of parity/stock (b2, e5 on one; a1, c3 on the other, by their key
 * hashes) read in one batch: the derivation publishes to both shards in one PutRecords (the scenario's
 * own movements only touch one shard per batch), so a partial refusal of its appends can happen.
 */
const BOTH_SHARDS_MOVES = {
  collection: 'parity/moves',
  docs: ['b2', 'a1', 'e5', 'c3', 'b2', 'a1', 'e5', 'c3'].map((sku, i) => ({
    id: `g${i + 1}`,
    sku,
    site: i < 4 ? 'north' : 'south',
    kind: i < 4 ? 'in' : 'out',
    qty: i + 1,
    at: `2026-03-06T0${i}:00:00Z`,
  })),
};

const LEDGER = fileURLToPath(new URL('../fixtures/parity/ledger/flow.yaml', import.meta.url));

/** A conditional DynamoDB write: the kind whose retry, once applied, meets its own condition. */
function conditionalWrite(c: ProxiedCall): boolean {
  const a = c.iam[0]?.action ?? '';
  return (
    /^dynamodb:(PutItem|UpdateItem|DeleteItem)$/.test(a) &&
    c.call.body.toString().includes('ConditionExpression')
  );
}

/** Where the faults that only some tasks get go (the others get every fault on every task). */
interface FaultTargets {
  /** Tasks whose DynamoDB calls are throttled. */
  dynamoTasks: string[];
  /** Tasks whose PutRecords answers are lost (each costs the journal a 2 s wait before it looks). */
  kinesisLost: string[];
}

/**
 * The faults on the functions' AWS calls through the runner's proxies (`names`: function name -> task
 * label, filled once the runner started).
 */
function gapHooks(
  faults: Faults,
  names: Map<string, string>,
  runner: () => AssemblyRunner,
  o: FaultTargets,
): ProxyHooks {
  const label = taskOf(names);
  const action = actionOf;
  return {
    before: (c) => {
      const l = label(c);
      const a = action(c);
      faults.seen(`${l} ${a}${a === 'kinesis:PutRecords' ? ` x${putEntries(c)}` : ''}`);
      // Partial: the first entry refused, the rest appended (a call carries one record per shard, so
      // this takes one shard's record and keeps the other's).
      if (a === 'kinesis:PutRecords' && putEntries(c) > 1 && faults.take('kinesis-partial', l, 2))
        return partialPut(runner(), c, (i) => i === 0);
      if (c.service === 'dynamodb' && o.dynamoTasks.includes(l) && faults.take('dynamodb-throttle', l, 2))
        return throttled('dynamodb');
      return undefined;
    },
    after: (c, status): LostAnswer | undefined => {
      if (status !== 200) return undefined;
      const l = label(c);
      const a = action(c);
      if (a === 'kinesis:PutRecords' && o.kinesisLost.includes(l)) {
        if (faults.take('kinesis-reset', l, 1)) return 'reset';
        if (faults.take('kinesis-hang', l, 1)) return 'hang';
      }
      if (conditionalWrite(c) && /^(derivation|materialization|persister):/.test(l)) {
        // Per action, so that each kind of conditional write (items, tombstones, checkpoints, leases) meets it.
        if (faults.take('dynamodb-reset', `${l} ${a}`, 1)) return 'reset';
        if (faults.take('dynamodb-hang', `${l} ${a}`, 1)) return 'hang';
      }
      if (a === 's3:PutObject') {
        if (faults.take('s3-written-500', l, 1)) throw new Error('answer lost (injected)');
        if (faults.take('s3-reset', l, 1)) return 'reset';
      }
      return undefined;
    },
  };
}

interface GapRun {
  fx: ParityFixture;
  runner: AssemblyRunner;
  offline: EngineSession;
  faults: Faults;
}

/**
 * A parity catalog's assembly started under the faults, and `steps` ingested into it and into the
 * offline engine (`after` each step, as ingestBoth's).
 */
async function runUnderFaults(
  catalogPath: string,
  database: string,
  targets: FaultTargets,
  steps: { collection: string; docs: JsonObject[] }[],
  after?: (step: { collection: string; docs: JsonObject[] }, run: GapRun) => Promise<void>,
): Promise<GapRun> {
  const fx = await startParity(catalogPath, database);
  const faults = new Faults();
  const names = new Map<string, string>();
  let runner: AssemblyRunner | undefined;
  try {
    const offline = await (
      await TestRunner.create(fx.catalog, new SchemaRegistry(fx.catalog.schemas))
    ).session();
    runner = await startAssembly(fx.catalog, {
      dataDir: fx.dataDir,
      hooks: gapHooks(faults, names, () => runner!, targets),
      onEvent: (task, e) => {
        if (e.kind === 'invoke')
          faults.note(`invoke ${task} ${e.shardId} ${e.records} records${e.ok ? '' : ` failed: ${e.error}`}`);
      },
      // Every second checkpoint of each task lost, twice at most: its batch comes again, fully applied.
      beforeCheckpoint: (task) => {
        if (faults.nth(`checkpoint ${task}`) % 2 === 0 && faults.take('checkpoint-lost', task, 2))
          throw new CheckpointLostError(task);
      },
    });
    const run = { fx, runner, offline, faults };
    for (const t of runner.tasks) names.set(t.fn.name, t.label);
    await ingestBoth({ offline, runner }, steps, (step) => after?.(step, run) ?? Promise.resolve());
    return run;
  } catch (e) {
    await runner?.stop();
    await fx.stop();
    throw e;
  }
}

/** Every mapping-driven task lost a checkpoint, and the mappings counted each loss. */
function expectCheckpointsLost(run: GapRun): void {
  for (const t of run.runner.tasks.filter((x) => x.mappings.length > 0))
    expect(run.faults.total('checkpoint-lost', t.label), `checkpoint-lost ${t.label}`).toBeGreaterThan(0);
  const lost = run.runner.mappings.reduce((n, m) => n + m.stats.lostCheckpoints, 0);
  expect(lost).toBe(run.faults.total('checkpoint-lost'));
}

async function stopRun(run: GapRun | undefined): Promise<void> {
  if (!run) return;
  if (process.env.SLUICE_TEST_FAULTS)
    process.stderr.write(
      `${JSON.stringify({ fired: run.faults.summary(), calls: Object.fromEntries(run.faults.seenCalls) }, null, 1)}\n${run.faults.timeline.join('\n')}\n`,
    );
  await run.runner.stop();
  await run.fx.stop();
}

describe('parity under the uncovered faults: offline engine vs the deployed assembly (inventory)', () => {
  let run: GapRun | undefined;
  let runner: AssemblyRunner;
  let offline: EngineSession;
  let fx: ParityFixture;
  /** Per item key, the combined document of the last transaction that had it (delta updates). */
  const lastDelta = new Map<string, JsonObject>();
  const writers = ['capture:parity/ingest', 'derivation:parity/stock'];
  // The derivation's DynamoDB calls here are reads (its TypeScript state): throttled; the ledger's
  // SQLite derivation has the conditional writes.
  const dynamoTasks = ['derivation:parity/stock', 'materialization:parity/to-dynamo'];

  beforeAll(async () => {
    run = await runUnderFaults(
      INVENTORY,
      'parity',
      { dynamoTasks, kinesisLost: writers },
      [...STEPS, BOTH_SHARDS_MOVES],
      async (step, r) => {
        if (step.collection !== 'parity/items') return;
        const catalog = r.fx.catalog;
        const c = new Combiner({
          registry: new SchemaRegistry(catalog.schemas),
          collection: catalog.collections['parity/items'],
          validate: false,
        });
        for (const d of step.docs) c.add(d);
        for await (const e of c.drain(false)) lastDelta.set((e.doc as JsonObject).sku as string, bare(e.doc));
      },
    );
    ({ runner, offline, fx } = run);
  }, 120_000);
  afterAll(() => stopRun(run));

  it('the faults fired', () => {
    const { faults } = run!;
    const fired = JSON.stringify(faults.summary());
    for (const w of writers)
      expect(faults.total('kinesis-partial', w), `kinesis-partial ${w}`).toBeGreaterThan(0);
    for (const t of dynamoTasks)
      expect(faults.total('dynamodb-throttle', t), `dynamodb-throttle ${t}`).toBeGreaterThan(0);
    // Its items (PutItem), deletions (DeleteItem) and checkpoints (UpdateItem), all conditional.
    const mat = 'materialization:parity/to-dynamo';
    for (const a of ['PutItem', 'DeleteItem', 'UpdateItem'])
      for (const kind of ['dynamodb-reset', 'dynamodb-hang'])
        expect(faults.total(kind, `${mat} dynamodb:${a}`), `${kind} ${mat} ${a} in ${fired}`).toBeGreaterThan(
          0,
        );
    for (const w of writers)
      for (const kind of ['kinesis-reset', 'kinesis-hang'])
        expect(faults.total(kind, w), `${kind} ${w} in ${fired}`).toBeGreaterThan(0);
    for (const kind of ['s3-written-500', 's3-reset'])
      expect(faults.total(kind), `${kind} in ${fired}`).toBeGreaterThan(0);
    expectCheckpointsLost(run!);
  });

  it('collections: the reduced views equal the offline engine', async () => {
    for (const collection of ['parity/items', 'parity/moves', 'parity/stock']) {
      const want = (await offline.read(collection)).docs.map(bare);
      expect(await view(runner, collection), collection).toEqual(want);
    }
  });

  it('PostgreSQL: soft- and hard-delete tables, and the delta-updates log, equal the offline engine', async () => {
    const db = fx.db;
    const items = await offline.read('parity/items');
    const soft = (await db.query('SELECT * FROM public.items_soft ORDER BY sku')).rows as JsonObject[];
    const op = (r: JsonObject) => ((r.flow_document as JsonObject)._meta as JsonObject | undefined)?.op;
    expect(soft.filter((r) => op(r) !== 'd').map((r) => bare(r.flow_document))).toEqual(items.docs.map(bare));
    expect(soft.filter((r) => op(r) === 'd').map((r) => r.sku)).toEqual(
      items.deleted.map((d) => (d as JsonObject).sku),
    );
    const hard = (await db.query('SELECT flow_document FROM public.items_hard ORDER BY sku')).rows;
    expect(hard.map((r) => bare(r.flow_document))).toEqual(
      (await offline.read('parity/items', { include: { warehouse: ['north', 'south'] } })).docs.map(bare),
    );
    const stock = (await db.query('SELECT flow_document FROM public.stock ORDER BY sku')).rows;
    expect(stock.map((r) => bare(r.flow_document))).toEqual(
      (await offline.read('parity/stock')).docs.map(bare),
    );
    // Delta updates: one row per document, none twice (a replay must not log a move again).
    const log = (await db.query('SELECT id FROM public.moves_log')).rows.map((r) => String(r.id));
    const moves = (await offline.read('parity/moves')).docs.map((m) => String((m as JsonObject).id));
    expect(log.sort()).toEqual(moves.sort());
  });

  it('DynamoDB: the standard and delta-updates tables equal the offline engine', async () => {
    const catalog = fx.catalog;
    const conn = new DynamoDbConnector({
      spec: catalog.materializations['parity/to-dynamo'],
      catalog,
      client: runner.admin.dynamodb,
    });
    const bySku = (xs: JsonObject[]) => xs.sort((a, b) => (String(a.sku) < String(b.sku) ? -1 : 1));
    const stock = await conn.items(0);
    expect(bySku(stock.map((i) => bare(i.flow_document)))).toEqual(
      (await offline.read('parity/stock')).docs.map(bare),
    );
    const items = await conn.items(2);
    expect(bySku(items.map((i) => bare(i.flow_document)))).toEqual(
      (await offline.read('parity/items')).docs.map(bare),
    );
    const deltas = await conn.items(1);
    expect(Object.fromEntries(deltas.map((i) => [i.sku as string, bare(i.flow_document)]))).toEqual(
      Object.fromEntries(lastDelta),
    );
  });
});

describe('parity under the uncovered faults: offline engine vs the deployed assembly (ledger, SQLite derivation)', () => {
  let run: GapRun | undefined;
  const derivation = 'derivation:parity/activity';

  beforeAll(async () => {
    const steps = LEDGER_STEPS.map((step) => ({ collection: `parity/${step.path}`, docs: step.docs }));
    // Lost PutRecords answers are the inventory scenario's (the same journal code writes here).
    run = await runUnderFaults(LEDGER, 'ledger', { dynamoTasks: [derivation], kinesisLost: [] }, steps);
  }, 120_000);
  afterAll(() => stopRun(run));

  it('the faults fired', () => {
    const { faults } = run!;
    const fired = JSON.stringify(faults.summary());
    // The derivation publishes and keeps its SQLite state in DynamoDB (conditional writes). Appends are
    // never partial here (each call holds one record): every account of the scenario hashes to one shard,
    // and transfers, read by a stateful derivation shuffled on /from, are routed to one shard.
    for (const kind of ['dynamodb-throttle', 'dynamodb-reset', 'dynamodb-hang'])
      expect(faults.total(kind, derivation), `${kind} ${derivation} in ${fired}`).toBeGreaterThan(0);
    for (const kind of ['s3-written-500', 's3-reset']) expect(faults.total(kind), kind).toBeGreaterThan(0);
    expectCheckpointsLost(run!);
  });

  it('the reduced views and the PostgreSQL tables equal the offline engine', async () => {
    const { runner, offline, fx } = run!;
    for (const collection of ['parity/accounts', 'parity/transfers', 'parity/activity']) {
      const want = (await offline.read(collection)).docs.map(bare);
      expect(await view(runner, collection), collection).toEqual(want);
    }
    const want = await offline.read('parity/accounts', { include: { tier: ['gold', 'basic'] } });
    const rows = (await fx.db.query('SELECT flow_document FROM public.accounts ORDER BY account')).rows;
    expect(rows.map((r) => bare(r.flow_document))).toEqual(want.docs.map(bare));
    const activity = (await fx.db.query('SELECT flow_document FROM public.activity ORDER BY account')).rows;
    expect(activity.map((r) => bare(r.flow_document))).toEqual(
      (await offline.read('parity/activity')).docs.map(bare),
    );
  });
});
