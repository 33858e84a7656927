/**
 * Lambda handler of a materialization, with a Kinesis event-source mapping per bound collection.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the materialization), SLUICE_STREAMS.
 * The connector is made from the catalog's endpoint (`createConnector`), built and opened once per cold
 * start (first invocation).
 */
import { parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { createMaterializeConnector } from '../shared/connectors/index.ts';
import { DynamoDbConnector } from '../shared/connectors/materialize-dynamodb.ts';
import type { MaterializeConnector } from '../shared/materialize/connector.ts';
import { type HistorySource, MaterializeTask } from '../shared/materialize/task.ts';
import { fragmentsOf } from './persist.ts';
import { type KinesisTaskHandler, kinesisEntry } from './telemetry.ts';

export type { KinesisTaskHandler };

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
    });
  return createMaterializeConnector(spec, {
    catalog: rt.catalog,
    blobs: (c) => rt.blobs(c.bucket),
    secret: rt.secret,
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
    streamArn: (collection) => rt.streamArn(collection),
  };
}

/**
 * The task and its handler. `task.open()` runs here (the cold start): it backfills every binding that has
 * no history yet (a new binding, or a bumped `backfill` counter) from its collection's S3 fragments and
 * then the stream, before the first event is applied.
 */
export async function createMaterializeHandler(
  rt: Runtime,
  materialization: string,
  connector?: MaterializeConnector,
): Promise<{ handler: KinesisTaskHandler; task: MaterializeTask }> {
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
    handler: async (event) => {
      if (event.Records.length === 0) return;
      await task.onEvent(rt.collectionOfArn(event.Records[0].eventSourceARN), event);
    },
  };
}

export const handler: KinesisTaskHandler = kinesisEntry(() => {
  const env = parseEnv();
  return createMaterializeHandler(createRuntime(env), requireTask(env)).then((r) =>
    Object.assign(r.handler, { docsOut: () => r.task.stats.keysStored }),
  );
});
