/**
 * Lambda handler of a source-s3 capture. Deployed (infra/sluice-catalog.ts) it is invoked by:
 * - an EventBridge rule on the bucket's "Object Created" events under the configured prefix:
 *   `{source: 'aws.s3', 'detail-type': 'Object Created', detail: {bucket: {name}, object: {key, size,
 *   sequencer}}}`, the key as is (not URL-encoded). The named object is parsed and its documents appended;
 * - with `interval`, an EventBridge schedule (`'detail-type': 'Scheduled Event'`): a poll of the prefix
 *   (shared/connectors/capture-runner.ts), its state (the processed keys) in the object
 *   `_sluice/captures/<capture>.json` of SLUICE_BUCKET.
 * S3 event notifications (`Records[].s3`, keys URL-encoded) and SQS or SNS messages carrying any of these
 * are accepted too. Anything else fails the invocation naming what arrived (EventBridge retries it, then
 * parks it on the capture's dead-letter queue).
 *
 * Environment (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK (the capture), SLUICE_STREAMS,
 * SLUICE_BUCKET (poll state). Objects are parsed (JSON, JSON lines, CSV, gzip) into documents with
 * `_meta/file` and `_meta/offset`: a redelivered event, or a poll that reads an object an event already
 * brought, yields the same documents with the same origins (bucket, key, content hash, record index), which
 * the persister and derivations drop. A bad record fails the invocation with the file and line; under
 * `park` it is parked instead (a record that does not parse, or that its collection's schema refuses, on
 * its own; an object that cannot be read at all, whole) and the rest appended; `{"sluiceRedrive": {}}`
 * appends what was parked again (shared/connectors/capture-parking.ts).
 */
import { appendCaptured, runPollingCapture } from '../shared/connectors/capture-runner.ts';
import { S3Source } from '../shared/connectors/source-s3.ts';
import { captureHandler, captureSetup } from './capture-setup.ts';
import { s3CaptureRequest } from './edge.ts';

const setup = captureSetup((spec, rt) =>
  S3Source.create({ spec, blobs: (c) => rt.blobs(c.bucket), secret: rt.secret }),
);

export const handler = captureHandler(setup, async (s, event, o) => {
  const request = s3CaptureRequest(event);
  if (request.kind === 'poll') return runPollingCapture(s.source, o);
  const objects = request.objects.filter((x) => x.bucket === s.source.config.bucket);
  const keys = [...new Set(objects.map((x) => x.key))];
  const round = objects.map((x) => `${x.key}@${x.sequencer ?? ''}`).join(',');
  return appendCaptured(o, await s.source.readObjects(keys), round);
});
