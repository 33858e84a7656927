/**
 * Lambda handler of a materialization, with a Kinesis event-source mapping per bound collection.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the materialization), SLUICE_STREAMS.
 * The connector is made from the catalog's endpoint (`materialize-dynamodb` here; other connectors
 * register in `connectorFactories`), built and opened once per cold start (first invocation).
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import { parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { DynamoDbConnector } from '../shared/connectors/materialize-dynamodb.ts';
import type { MaterializeConnector } from '../shared/materialize/connector.ts';
import { MaterializeTask } from '../shared/materialize/task.ts';
import { eventSize, taskMetrics } from './telemetry.ts';

export type KinesisTaskHandler = (event: KinesisStreamEvent) => Promise<void>;

export type ConnectorFactory = (rt: Runtime, materialization: string) => Promise<MaterializeConnector>;

/** Connectors by built-in name. */
export const connectorFactories: Record<string, ConnectorFactory> = {
  'materialize-dynamodb': async (rt, name) =>
    new DynamoDbConnector({
      spec: rt.catalog.materializations[name],
      catalog: rt.catalog,
      client: rt.clients.dynamodb,
      meter: rt.meter,
    }),
  'materialize-postgres': async (rt, name) => {
    const { PostgresMaterialization } = await import('../shared/connectors/materialize-postgres.ts');
    return PostgresMaterialization.create({ spec: rt.catalog.materializations[name], catalog: rt.catalog });
  },
};

export async function createMaterializeHandler(
  rt: Runtime,
  materialization: string,
  connector?: MaterializeConnector,
): Promise<{ handler: KinesisTaskHandler; task: MaterializeTask }> {
  const spec = rt.catalog.materializations[materialization];
  if (!spec) throw new Error(`SLUICE_TASK=${materialization}: no such materialization in the catalog`);
  const factory = connectorFactories[spec.endpoint.connector];
  if (!connector && !factory)
    throw new Error(
      `materialization ${materialization}: connector ${spec.endpoint.connector} cannot run here`,
    );
  const task = new MaterializeTask(
    spec,
    rt.catalog,
    rt.registry,
    connector ?? (await factory(rt, materialization)),
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

const metrics = taskMetrics();
// Built at module scope (the Lambda init phase) when deployed; `sluice dev` imports this module without SLUICE_TASK.
let ready: Promise<KinesisTaskHandler> | undefined = process.env.SLUICE_TASK ? init() : undefined;
ready?.catch(() => undefined); // an init failure surfaces on the first invocation, not as an unhandled rejection
function init(): Promise<KinesisTaskHandler> {
  const env = parseEnv();
  return createMaterializeHandler(createRuntime(env), requireTask(env)).then((r) => r.handler);
}
export const handler: KinesisTaskHandler = async (event) => {
  ready ??= init();
  const size = eventSize(event);
  metrics.count('DocsIn', size.docs);
  metrics.bytes('BytesIn', size.bytes);
  try {
    await (await ready)(event);
  } finally {
    metrics.publish();
  }
};
