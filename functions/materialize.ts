/**
 * Lambda handler of a materialization, with a Kinesis event-source mapping per bound collection.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the materialization), SLUICE_STREAMS.
 * The connector is made from the catalog's endpoint (`createConnector`), built and opened once per cold
 * start (first invocation). Each invocation's context bounds its commits (`deadlineMs`: the remaining time
 * less DEADLINE_SAFETY_MS), so a webhook's retries never outlive the function.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';
import { parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { createMaterializeConnector } from '../shared/connectors/index.ts';
import { DynamoDbConnector } from '../shared/connectors/materialize-dynamodb.ts';
import { DEFAULT_BUDGET_MS } from '../shared/connectors/materialize-webhook.ts';
import type { MaterializeConnector } from '../shared/materialize/connector.ts';
import { type HistorySource, MaterializeTask } from '../shared/materialize/task.ts';
import { fragmentsOf } from './persist.ts';
import { type BatchTask, type KinesisTaskHandler, kinesisEntry, parkingOf } from './telemetry.ts';

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
 * The task and its handler. `task.open()` runs here (the cold start): it backfills every binding that has
 * no history yet (a new binding, or a bumped `backfill` counter) from its collection's S3 fragments and
 * then the stream, before the first event is applied.
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
  );
  await task.open();
  return {
    task,
    collectionOfArn: (arn) => rt.collectionOfArn(arn),
    onBatch: (batch) => task.onBatch(batch),
    counters: () => ({ docsOut: task.stats.keysStored }),
    parking: parkingOf(rt),
  };
}

const entry: KinesisTaskHandler = kinesisEntry(() => {
  const env = parseEnv();
  return createMaterializeTask(createRuntime(env), requireTask(env));
});

/** The Lambda handler: each invocation runs with its context, so commits know its deadline. */
export const handler = (
  event: Parameters<KinesisTaskHandler>[0],
  context?: InvocationContext,
): ReturnType<KinesisTaskHandler> => withInvocation(context, () => entry(event));
