/**
 * Lambda handler of a derivation, with a Kinesis event-source mapping on each source collection.
 * Environment (shared/config/env.ts): SLUICE_CATALOG (built catalog JSON), SLUICE_TASK (the derived
 * collection), SLUICE_STREAMS, SLUICE_DERIVATION_MODULE (a TypeScript derivation's module bundled at synth,
 * next to this bundle: imported plainly, no build step at run time) or SLUICE_SQLITE_WASM (a SQLite
 * derivation: sql.js's WASM, next to this bundle).
 * The runtime and the derivation instance are built once per cold start (first invocation).
 * A failure throws: the mapping retries and bisects.
 * Input documents already processed (by origin: re-published by a replayed upstream derivation) are
 * skipped, through watermarks in the state table (SLUICE_STATE_TABLE); this needs ParallelizationFactor 1.
 * A stateful derivation (SQLite, or a module with state) commits its state with its input positions in
 * the state table too (shared/derive/task.ts), one invocation at a time (reserved concurrency 1).
 */
import { sqliteOf } from '../shared/catalog/model.ts';
import { EnvError, parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { DerivationRunner, importBundledModule } from '../shared/derive/runner.ts';
import { DeriveTask } from '../shared/derive/task.ts';
import { type BatchTask, type KinesisTaskHandler, kinesisEntry, parkingOf } from './telemetry.ts';

export type { KinesisTaskHandler };

export async function createDeriveTask(
  rt: Runtime,
  derivation: string,
): Promise<BatchTask & { task: DeriveTask }> {
  // A TypeScript derivation imports its module bundled at synth; a SQLite one runs on sql.js, whose WASM
  // is shipped beside the bundle (SLUICE_SQLITE_WASM).
  const isSqlite = sqliteOf(rt.catalog.collections[derivation]?.derive) !== undefined;
  if (!isSqlite && !rt.env.derivationModule)
    throw new EnvError('SLUICE_DERIVATION_MODULE', undefined, 'required: the bundled derivation module');
  const module =
    isSqlite || !rt.env.derivationModule
      ? undefined
      : await importBundledModule(rt.env.derivationModule, derivation);
  const runner = await DerivationRunner.create(rt.catalog, rt.registry, derivation, module);
  // Origin watermarks in the state table (partition `c#<derivation>`), so a replayed upstream
  // derivation's re-published documents are not derived twice (shared/derive/task.ts).
  const task = new DeriveTask(rt.catalog.collections[derivation], runner, rt.journal, rt.catalog, {
    watermarks: rt.state,
    // A stateful derivation's state commits with its checkpoint in the state table (`c#<derivation>`).
    derivationState: rt.state,
    // Origin watermarks expire once no replay can reach them (infra sets the sources' replay window).
    marksHorizonSeconds: rt.env.appliedHorizonSeconds,
  });
  return {
    task,
    collectionOfArn: (arn) => rt.collectionOfArn(arn),
    onBatch: (batch) => task.onBatch(batch),
    onParked: (batch, doc) => task.skipParked(batch, doc),
    counters: () => ({ docsOut: task.stats.docsOut, docsSkipped: task.stats.docsSkipped }),
    parking: parkingOf(rt),
  };
}

export const handler: KinesisTaskHandler = kinesisEntry(() => {
  const env = parseEnv();
  return createDeriveTask(createRuntime(env), requireTask(env));
});
