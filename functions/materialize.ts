/**
 * Lambda handler of a materialization, with a Kinesis event-source mapping per bound collection.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the materialization), SLUICE_STREAMS.
 * The connector is made from the catalog's endpoint (`createConnector`), built and opened once per cold
 * start (first invocation). Each invocation's context bounds its commits (`deadlineMs`: the remaining time
 * less DEADLINE_SAFETY_MS), so a webhook's retries never outlive the function.
 *
 * Two kinds of event reach it:
 * - a Kinesis batch (the mappings): applied once its collection's bindings are backfilled (the task's
 *   gate waits for the backfill leader, up to the invocation's deadline, then fails the batch with a
 *   retryable BackfillInProgress: the halt policy retries it without limit);
 * - `{"sluiceBackfill": true}` from the materialization's EventBridge schedule (infra, every minute): the
 *   backfill job. It takes the lease, works until the invocation's deadline (progress committed after each
 *   fragment and journal page) and returns; the next tick continues. Warm, with nothing pending, a tick
 *   touches nothing. docs/deploy.md says why a schedule rather than Step Functions or self-invocation.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';
import { DynamoBackfillLease } from '../shared/adapters/dynamodb-lease.ts';
import { parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { createMaterializeConnector } from '../shared/connectors/index.ts';
import { DynamoDbConnector } from '../shared/connectors/materialize-dynamodb.ts';
import { DEFAULT_BUDGET_MS } from '../shared/connectors/materialize-webhook.ts';
import { StateTableCheckpoints } from '../shared/connectors/state-checkpoints.ts';
import type { MaterializeConnector } from '../shared/materialize/connector.ts';
import { type HistorySource, MaterializeTask } from '../shared/materialize/task.ts';
import { fragmentsOf } from './persist.ts';
import {
  type BatchTask,
  type KinesisTaskHandler,
  kinesisEntry,
  parkingOf,
  retryingInit,
} from './telemetry.ts';

export type { KinesisTaskHandler };

/**
 * Time kept back from the invocation's end: a commit that runs out of time still fails with its own
 * error (logged, the batch retried by the mapping) before Lambda kills the instance mid-request.
 */
export const DEADLINE_SAFETY_MS = 5_000;

/** What the deadline needs of the Lambda context. */
export type InvocationContext = Pick<Context, 'getRemainingTimeInMillis'>;

const invocation = new AsyncLocalStorage<InvocationContext>();

/** Run `fn` as part of the Lambda invocation `context` (what `invocationDeadline()` then answers for). */
export function withInvocation<T>(context: InvocationContext | undefined, fn: () => T): T {
  return context ? invocation.run(context, fn) : fn();
}

/**
 * When the current invocation must be done with a commit (ms since epoch): its end less
 * DEADLINE_SAFETY_MS. Outside an invocation (init at module scope, tests) undefined.
 */
export function invocationDeadline(): number | undefined {
  const ctx = invocation.getStore();
  return ctx ? Date.now() + ctx.getRemainingTimeInMillis() - DEADLINE_SAFETY_MS : undefined;
}

/** The connectors' `deadlineMs`: the current invocation's deadline, else the webhook's own budget. */
export function commitDeadline(): number {
  return invocationDeadline() ?? Date.now() + DEFAULT_BUDGET_MS;
}

/**
 * The connector of a materialization, by its built-in name: materialize-dynamodb (with the runtime's
 * DynamoDB client; its checkpoints live in Sluice's state table), and every connector of
 * `shared/connectors/index.ts` (materialize-postgres, materialize-s3, materialize-webhook; their buckets
 * through the runtime's S3 client).
 */
export async function createConnector(rt: Runtime, materialization: string): Promise<MaterializeConnector> {
  const spec = rt.catalog.materializations[materialization];
  if (!spec) throw new Error(`SLUICE_TASK=${materialization}: no such materialization in the catalog`);
  if (spec.endpoint.connector === 'materialize-dynamodb')
    return new DynamoDbConnector({
      spec,
      catalog: rt.catalog,
      client: rt.clients.dynamodb,
      meter: rt.meter,
      stateTable: rt.env.stateTable,
      // Items too large for DynamoDB keep their document in the default bucket (its grant: spill-objects).
      spillBucket: rt.env.bucket,
      blobs: rt.blobs,
      tombstoneTtlSeconds: rt.env.tombstoneTtlSeconds,
      appliedHorizonSeconds: rt.env.appliedHorizonSeconds,
    });
  return createMaterializeConnector(spec, {
    catalog: rt.catalog,
    blobs: (c) => rt.blobs(c.bucket),
    secret: rt.secret,
    // Retries (materialize-webhook) never outlive the invocation that commits.
    deadlineMs: commitDeadline,
    // materialize-webhook keeps its checkpoint in the state table (its grant: state-checkpoints).
    checkpoints: (name) =>
      new StateTableCheckpoints({
        client: rt.clients.dynamodb,
        table: rt.env.stateTable,
        materialization: name,
        meter: rt.meter,
      }),
  });
}

/** A collection's history for backfills: its fragments (where its persister writes them) and its stream. */
export function historySource(rt: Runtime): HistorySource {
  return {
    fragments(collection) {
      const place = fragmentsOf(rt, collection);
      return { blobs: rt.blobs(place.bucket), folder: place.folder };
    },
    journal: rt.journal,
  };
}

/**
 * The task and its handler. `task.open()` runs here (the cold start: destination resources, the
 * committed checkpoint). Bindings without history yet (new, or a bumped `backfill` counter) are
 * backfilled by the job (`task.runBackfillJob()`, the scheduled event) or by the first batch of their
 * collection, whichever takes the lease (one leader, in the state table's partition of this task).
 */
export async function createMaterializeTask(
  rt: Runtime,
  materialization: string,
  connector?: MaterializeConnector,
): Promise<BatchTask & { task: MaterializeTask }> {
  const spec = rt.catalog.materializations[materialization];
  if (!spec) throw new Error(`SLUICE_TASK=${materialization}: no such materialization in the catalog`);
  const task = new MaterializeTask(
    spec,
    rt.catalog,
    rt.registry,
    connector ?? (await createConnector(rt, materialization)),
    historySource(rt),
    {
      lease: new DynamoBackfillLease({
        client: rt.clients.dynamodb,
        table: rt.env.stateTable,
        materialization,
      }),
      deadline: invocationDeadline,
    },
  );
  task.originMarksHorizonSeconds = rt.env.appliedHorizonSeconds;
  await task.open();
  return {
    task,
    collectionOfArn: (arn) => rt.collectionOfArn(arn),
    onBatch: (batch) => task.onBatch(batch),
    onParked: (batch, doc) => task.onParked(batch, doc),
    counters: () => ({ docsOut: task.stats.keysStored }),
    parking: parkingOf(rt),
  };
}

/** The schedule's event (infra/sluice-catalog.ts): run the backfill job. */
export interface BackfillTick {
  sluiceBackfill: true;
}

function isBackfillTick(event: unknown): event is BackfillTick {
  return typeof event === 'object' && event !== null && (event as BackfillTick).sluiceBackfill === true;
}

// One task per instance, shared by the mappings' batches and the schedule's ticks.
const ready = retryingInit(() => {
  const env = parseEnv();
  return createMaterializeTask(createRuntime(env), requireTask(env));
});
const entry: KinesisTaskHandler = kinesisEntry(ready);

/** The backfill job's invocation: as far as the deadline allows; `done` false: a later tick continues. */
export async function backfillTick(): Promise<{ done: boolean }> {
  const { task } = await ready();
  return { done: await task.runBackfillJob() };
}

/** The Lambda handler: each invocation runs with its context, so commits know its deadline. */
export const handler = (
  event: Parameters<KinesisTaskHandler>[0] | BackfillTick,
  context?: InvocationContext,
): Promise<Awaited<ReturnType<KinesisTaskHandler>> | { done: boolean }> =>
  withInvocation(context, () => (isBackfillTick(event) ? backfillTick() : entry(event)));
