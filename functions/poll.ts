/**
 * Lambda handler of a polling capture (source-postgres-batch, source-s3 without notifications), invoked by
 * an EventBridge schedule at the capture's `interval`.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the capture), SLUICE_STREAMS,
 * SLUICE_BUCKET (capture state object `_sluice/captures/<capture>.json`). Secrets in connector configs:
 * `${ENV}` / `env:NAME` (shared/connectors/config.ts).
 * One invocation = poll until the source has nothing more (bounded), append, save state.
 */
import { requireTask, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime } from '../shared/config/runtime.ts';
import { runPollingCapture } from '../shared/connectors/capture-runner.ts';
import { createPollingSource } from '../shared/connectors/index.ts';

const env = sluiceEnv();
const rt = createRuntime(env);
const name = requireTask(env);
const spec = rt.catalog.captures[name];
if (!spec) throw new Error(`SLUICE_TASK=${name}: no such capture in the catalog`);
const sourcePromise = createPollingSource(spec, { blobs: (c) => rt.blobs(c.bucket), secret: rt.secret });

export const handler = async (): Promise<{ docs: number; rounds: number }> =>
  runPollingCapture(await sourcePromise, {
    spec,
    catalog: rt.catalog,
    registry: rt.registry,
    journal: rt.journal,
    stateStore: rt.blobs(env.bucket),
  });
