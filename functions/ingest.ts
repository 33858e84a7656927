/**
 * Lambda handler of an HTTP-ingest capture (source-http-ingest), behind a Function URL.
 * Environment (shared/config/env.ts): SLUICE_CATALOG (built catalog JSON, `./catalog.json` next to the
 * bundle), SLUICE_TASK (the capture name), SLUICE_STREAMS, AWS_REGION. The runtime (catalog, schema
 * registry, clients) is built once per cold start, on the first invocation; `sluice dev` drives the same
 * function through `createIngestHandler` with the local runtime.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { HttpIngestCapture } from '../shared/capture/http-ingest.ts';
import { parseEnv, requireTask } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';
import { resolveEndpointSecrets } from '../shared/connectors/config.ts';
import { httpRequest, httpResult } from './edge.ts';
import { retryingInit, taskMetrics } from './telemetry.ts';

export type IngestHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export function createIngestHandler(
  rt: Runtime,
  capture: string,
): IngestHandler & { capture: HttpIngestCapture } {
  const spec = rt.catalog.captures[capture];
  if (!spec) throw new Error(`SLUICE_TASK=${capture}: no such capture in the catalog`);
  const task = new HttpIngestCapture(spec, rt.catalog, rt.registry, rt.journal, {
    maxBodyBytes: rt.env.maxBodyBytes,
  });
  const fn: IngestHandler = async (event) => httpResult(await task.handle(httpRequest(event)));
  return Object.assign(fn, { capture: task });
}

const metrics = taskMetrics();
// Built in the Lambda init phase when deployed (SLUICE_TASK set), again on the next invocation after a
// failure (retryingInit).
const ready = retryingInit(async () => {
  const env = parseEnv();
  const rt = createRuntime(env);
  const capture = requireTask(env);
  // require_auth_token may be a secret reference (secretsmanager:, ssm:, env:): resolved once here.
  const spec = rt.catalog.captures[capture];
  if (spec) rt.catalog.captures[capture] = await resolveEndpointSecrets(spec, rt.secret);
  return createIngestHandler(rt, capture);
});

export const handler: IngestHandler = async (event) => {
  const h = await ready();
  const before = { ...h.capture.stats };
  const res = await h(event);
  const after = h.capture.stats;
  metrics.count('DocsIn', after.docs - before.docs);
  metrics.count('DocsOut', after.appended - before.appended);
  // Only documents the schema refused: malformed bodies, bad paths or tokens are the client's errors.
  metrics.count('SchemaViolations', after.schemaViolations - before.schemaViolations);
  metrics.bytes('BytesIn', event.body?.length ?? 0);
  metrics.publish();
  return res;
};
