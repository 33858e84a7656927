/**
 * Lambda handler of a polling capture (source-postgres-batch, source-s3 without notifications), invoked by
 * an EventBridge schedule at the capture's `interval`.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the capture), SLUICE_STREAMS,
 * SLUICE_BUCKET (capture state object `_sluice/captures/<capture>.json`). Secrets in connector configs:
 * `${ENV}` / `env:NAME` (shared/connectors/config.ts).
 * One invocation = poll until the source has nothing more (bounded by rounds and by the invocation's
 * remaining time), append, save state. The source is made once per container, again after a failure.
 */
import type { Context } from 'aws-lambda';
import { requireTask, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime } from '../shared/config/runtime.ts';
import { POLL_SAFETY_MS, runPollingCapture } from '../shared/connectors/capture-runner.ts';
import { createPollingSource } from '../shared/connectors/index.ts';
import { retryingInit } from './telemetry.ts';

const setup = retryingInit(async () => {
  const env = sluiceEnv();
  const rt = createRuntime(env);
  const name = requireTask(env);
  const spec = rt.catalog.captures[name];
  if (!spec) throw new Error(`SLUICE_TASK=${name}: no such capture in the catalog`);
  const source = await createPollingSource(spec, { blobs: (c) => rt.blobs(c.bucket), secret: rt.secret });
  return { env, rt, spec, source };
});

export const handler = async (
  _event?: unknown,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<{ docs: number; rounds: number }> => {
  const { env, rt, spec, source } = await setup();
  return runPollingCapture(source, {
    spec,
    catalog: rt.catalog,
    registry: rt.registry,
    journal: rt.journal,
    stateStore: rt.blobs(env.bucket),
    deadlineMs: context ? Date.now() + context.getRemainingTimeInMillis() - POLL_SAFETY_MS : undefined,
  });
};
