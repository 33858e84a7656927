/**
 * What a capture function (poll.ts, s3-capture.ts) builds once per container: the runtime from the
 * environment, its capture's spec and its source connector — retried on the next invocation after a
 * failure (retryingInit) — and the run options of one invocation, bounded by its remaining time.
 */
import type { Context } from 'aws-lambda';
import type { CaptureSpec } from '../shared/catalog/model.ts';
import { requireTask, type SluiceEnv, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { type CaptureRunOptions, POLL_SAFETY_MS } from '../shared/connectors/capture-runner.ts';
import { retryingInit } from './telemetry.ts';

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

/** One invocation's run options: no poll round starts within POLL_SAFETY_MS of its end. */
export function captureRun<S>(
  s: CaptureSetup<S>,
  context: Pick<Context, 'getRemainingTimeInMillis'> | undefined,
): CaptureRunOptions {
  return {
    spec: s.spec,
    catalog: s.rt.catalog,
    registry: s.rt.registry,
    journal: s.rt.journal,
    stateStore: s.rt.blobs(s.env.bucket),
    deadlineMs: context ? Date.now() + context.getRemainingTimeInMillis() - POLL_SAFETY_MS : undefined,
  };
}
