/**
 * Lambda handler of a derivation, with a Kinesis event-source mapping on each source collection.
 * Environment (shared/config/env.ts): SLUICE_CATALOG (built catalog JSON), SLUICE_TASK (the derived
 * collection), SLUICE_STREAMS, SLUICE_DERIVATION_MODULE (the bundled module; else the catalog's path).
 * The runtime and the derivation instance are built once per cold start (first invocation).
 * A failure throws: the mapping retries, bisects, and parks the batch in the on-failure destination.
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import { requireTask, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { DerivationRunner, importDerivationModule } from '../shared/derive/runner.ts';
import { DeriveTask } from '../shared/derive/task.ts';

export type KinesisTaskHandler = (event: KinesisStreamEvent) => Promise<void>;

export async function createDeriveHandler(rt: Runtime, derivation: string): Promise<KinesisTaskHandler> {
  const module = rt.env.derivationModule
    ? await importDerivationModule(rt.env.derivationModule, derivation)
    : undefined;
  const runner = await DerivationRunner.create(rt.catalog, rt.registry, derivation, module);
  const task = new DeriveTask(rt.catalog.collections[derivation], runner, rt.journal);
  return async (event) => {
    if (event.Records.length === 0) return;
    await task.onEvent(rt.collectionOfArn(event.Records[0].eventSourceARN), event);
  };
}

let ready: Promise<KinesisTaskHandler> | undefined;
export const handler: KinesisTaskHandler = async (event) => {
  if (!ready) {
    const env = sluiceEnv();
    ready = createDeriveHandler(createRuntime(env), requireTask(env));
  }
  return (await ready)(event);
};
