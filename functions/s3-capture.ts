/**
 * Lambda handler of a source-s3 capture driven by S3 event notifications (ObjectCreated:*).
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the capture), SLUICE_STREAMS.
 * Each notified object is parsed (JSON, JSON lines, CSV, gzip) into documents with `_meta/file` and
 * `_meta/offset` and appended to its binding's collection; a redelivered notification yields the same
 * documents. A bad record fails the invocation with the file and line (S3 retries, then the DLQ).
 */
import type { S3Event } from 'aws-lambda';
import { requireTask, sluiceEnv } from '../shared/config/env.ts';
import { createRuntime } from '../shared/config/runtime.ts';
import { appendCaptured } from '../shared/connectors/capture-runner.ts';
import { S3Source } from '../shared/connectors/source-s3.ts';

const env = sluiceEnv();
const rt = createRuntime(env);
const name = requireTask(env);
const spec = rt.catalog.captures[name];
if (!spec) throw new Error(`SLUICE_TASK=${name}: no such capture in the catalog`);
const sourcePromise = S3Source.create({ spec, blobs: (c) => rt.blobs(c.bucket), secret: rt.secret });

export const handler = async (event: S3Event): Promise<{ docs: number }> => {
  const source = await sourcePromise;
  const keys = event.Records.filter((r) => r.s3.bucket.name === source.config.bucket).map((r) =>
    decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')),
  );
  const docs = await source.readObjects(keys);
  const n = await appendCaptured(
    {
      spec,
      catalog: rt.catalog,
      registry: rt.registry,
      journal: rt.journal,
      stateStore: rt.blobs(env.bucket),
    },
    docs,
    event.Records.map((r) => `${r.s3.object.key}@${r.s3.object.sequencer}`).join(','),
  );
  return { docs: n };
};
