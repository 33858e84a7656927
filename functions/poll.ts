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
import { runPollingCapture } from '../shared/connectors/capture-runner.ts';
import { createPollingSource } from '../shared/connectors/index.ts';
import { captureRun, captureSetup } from './capture-setup.ts';

const setup = captureSetup((spec, rt) =>
  createPollingSource(spec, { blobs: (c) => rt.blobs(c.bucket), secret: rt.secret }),
);

export const handler = async (
  _event?: unknown,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<{ docs: number; rounds: number }> => {
  const s = await setup();
  return runPollingCapture(s.source, captureRun(s, context));
};
