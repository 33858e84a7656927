/**
 * Lambda handler of a collection's persister: Kinesis event → gzipped JSON-lines fragments in S3 and
 * the collection's reduced view in the state table.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the collection), SLUICE_STREAMS,
 * SLUICE_STATE_TABLE, SLUICE_FRAGMENTS (`{collection: "s3://bucket/prefix/"}`) or SLUICE_BUCKET;
 * SLUICE_VIEW=off: fragments only (SluiceCatalogProps.views).
 * Built once per cold start (first invocation).
 */
import { parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { fragmentsLocation } from '../shared/persist/place.ts';
import { PersistTask } from '../shared/persist/task.ts';
import { type BatchTask, type KinesisTaskHandler, kinesisEntry, parkingOf } from './telemetry.ts';

export type { KinesisTaskHandler };

/**
 * A collection's fragment bucket and folder: as the stack says (SLUICE_FRAGMENTS, the folder already
 * ending in `<collection>/`), else from the catalog's storage mappings with the default bucket.
 */
export function fragmentsOf(rt: Runtime, collection: string): { bucket: string; folder: string } {
  return fragmentsLocation(rt.catalog, rt.env, collection);
}

export function createPersistTask(
  rt: Runtime,
  collection: string,
  opts: { view?: boolean } = {},
): BatchTask & { task: PersistTask } {
  const spec = rt.catalog.collections[collection];
  if (!spec) throw new Error(`SLUICE_TASK=${collection}: no such collection in the catalog`);
  const place = fragmentsOf(rt, collection);
  const task = new PersistTask(spec, rt.registry, rt.blobs(place.bucket), rt.state, place.folder, opts);
  return {
    task,
    collectionOfArn: (arn) => rt.collectionOfArn(arn),
    onBatch: (batch) => task.onBatch(batch),
    // Every document of the batch, parked ones too: they are the collection's documents all the same.
    afterIsolation: (batch) => task.writeFragments(batch),
    onParked: (_batch, doc) => task.onParked(doc),
    counters: () => ({ docsOut: task.stats.docsIn, bytesOut: task.stats.bytesOut }),
    parking: parkingOf(rt),
  };
}

export const handler: KinesisTaskHandler = kinesisEntry(() => {
  const env = parseEnv();
  return createPersistTask(createRuntime(env), requireTask(env), { view: env.view });
});
