/**
 * What a capture function (poll.ts, s3-capture.ts) builds once per container: the runtime from the
 * environment, its capture's spec and its source connector — retried on the next invocation after a
 * failure (retryingInit) — and the run options of one invocation, bounded by its remaining time, with its
 * parking place under `park`; and the handler around both, which answers `sluice redrive` too.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { CaptureSpec } from '../shared/catalog/model.ts';
import { requireTask, type SluiceEnv, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { redriveCapture } from '../shared/connectors/capture-parking.ts';
import { type CaptureRunOptions, POLL_SAFETY_MS } from '../shared/connectors/capture-runner.ts';
import type { PollingSource } from '../shared/connectors/source.ts';
import type { RedriveResult } from '../shared/ports/parking.ts';
import { isRedriveEvent, noParkingPlace, parkingOf, retryingInit, taskMetrics } from './telemetry.ts';

export interface CaptureSetup<S> {
  env: SluiceEnv;
  rt: Runtime;
  spec: CaptureSpec;
  source: S;
}

export function captureSetup<S>(
  makeSource: (spec: CaptureSpec, rt: Runtime) => Promise<S>,
): () => Promise<CaptureSetup<S>> {
  return retryingInit(async () => {
    const env = sluiceEnv();
    const rt = createRuntime(env);
    const name = requireTask(env);
    const spec = rt.catalog.captures[name];
    if (!spec) throw new Error(`SLUICE_TASK=${name}: no such capture in the catalog`);
    return { env, rt, spec, source: await makeSource(spec, rt) };
  });
}

/**
 * One invocation's run options: no poll round starts within POLL_SAFETY_MS of its end; under `park`
 * (SLUICE_PARKED) what cannot be appended is parked, one WARN line each.
 */
export function captureRun<S>(
  s: CaptureSetup<S>,
  context: Pick<Context, 'getRemainingTimeInMillis'> | undefined,
  log: Pick<Logger, 'warn'> = logger,
): CaptureRunOptions {
  const parking = parkingOf(s.rt);
  return {
    spec: s.spec,
    catalog: s.rt.catalog,
    registry: s.rt.registry,
    journal: s.rt.journal,
    stateStore: s.rt.blobs(s.env.bucket),
    deadlineMs: context ? Date.now() + context.getRemainingTimeInMillis() - POLL_SAFETY_MS : undefined,
    ...(parking
      ? {
          parking,
          onParked: (p) =>
            log.warn('record parked; the capture goes on (redrive it with `sluice redrive`)', {
              task: parking.task,
              ...p,
            }),
        }
      : {}),
  };
}

// Structured (JSON) logs, service = the task label, as the stream tasks' (telemetry.ts).
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice' });

/**
 * A capture function's handler: `sluice redrive`'s event appends its parked records again
 * (connectors/capture-parking.ts); any other event is `run`'s. Publishes documents in, out, parked and
 * redriven.
 */
export function captureHandler<S extends PollingSource, R extends { docs: number; parked: number }>(
  setup: () => Promise<CaptureSetup<S>>,
  run: (s: CaptureSetup<S>, event: unknown, o: CaptureRunOptions) => Promise<R>,
): (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<R | RedriveResult> {
  const metrics = taskMetrics();
  return async (event, context) => {
    const s = await setup();
    const o = captureRun(s, context);
    try {
      if (isRedriveEvent(event)) {
        if (!o.parking) throw noParkingPlace(s.spec.name);
        const result = await redriveCapture(o, o.parking, s.source);
        logger.info('redrive done', { task: o.parking.task, ...result });
        metrics.count('DocsRedriven', result.redriven);
        return result;
      }
      const result = await run(s, event, o);
      // In: what this invocation captured, appended or set aside (a record the parking lot holds
      // already, read again, is neither).
      metrics.count('DocsIn', result.docs + result.parked);
      metrics.count('DocsOut', result.docs);
      metrics.count('DocsParked', result.parked);
      return result;
    } finally {
      metrics.publish();
    }
  };
}
