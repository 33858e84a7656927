/**
 * Lambda handler of a polling capture (source-postgres-batch, source-s3 without notifications), invoked by
 * an EventBridge schedule at the capture's `interval`.
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the capture), SLUICE_STREAMS,
 * SLUICE_BUCKET (capture state object `_sluice/captures/<capture>.json`). Secrets in connector configs:
 * `${ENV}` / `env:NAME` (shared/connectors/config.ts).
 * One invocation = poll until the source has nothing more (bounded by rounds and by the invocation's
 * remaining time), append, save state. The source is made once per container, again after a failure.
 * Under `park`, a row its collection's schema refuses is parked and the poll goes on; `{"sluiceRedrive":
 * {}}` appends the parked rows again (shared/connectors/capture-parking.ts).
 */
import { runPollingCapture } from '../shared/connectors/capture-runner.ts';
import { createPollingSource } from '../shared/connectors/index.ts';
import { captureHandler, captureSetup } from './capture-setup.ts';

const setup = captureSetup((spec, rt) =>
  createPollingSource(spec, { blobs: (c) => rt.blobs(c.bucket), secret: rt.secret }),
);

export const handler = captureHandler(setup, (s, _event, o) => runPollingCapture(s.source, o));
