/**
 * Lambda handler of an HTTP-ingest capture (source-http-ingest), behind a Function URL.
 * Environment (shared/config/env.ts): SLUICE_CATALOG (built catalog JSON, `./catalog.json` next to the
 * bundle), SLUICE_TASK (the capture name), SLUICE_STREAMS, AWS_REGION. The runtime (catalog, schema
 * registry, clients) is built once per cold start, on the first invocation; `sluice dev` drives the same
 * function through `createIngestHandler` with the local runtime.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { HttpIngestCapture } from '../shared/capture/http-ingest.ts';
import { requireTask, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime, type Runtime } from '../shared/config/runtime.ts';

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
  const fn: IngestHandler = async (event) => {
    const body = event.body
      ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8')
      : Buffer.alloc(0);
    const res = await task.handle({
      method: event.requestContext.http.method.toUpperCase(),
      path: event.rawPath,
      headers: event.headers ?? {},
      query: Object.fromEntries(new URLSearchParams(event.rawQueryString ?? '')),
      body,
    });
    return { statusCode: res.status, headers: res.headers, body: res.body };
  };
  return Object.assign(fn, { capture: task });
}

let ready: IngestHandler | undefined;
export const handler: IngestHandler = async (event) => {
  if (!ready) {
    const env = sluiceEnv();
    ready = createIngestHandler(createRuntime(env), requireTask(env));
  }
  return ready(event);
};
