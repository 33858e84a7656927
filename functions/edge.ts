/**
 * The adapter edge between Lambda and Sluice's tasks: every AWS event shape a deployed function is
 * invoked with is decoded here, once, into what the tasks take — a Kinesis event into a DocBatch of one
 * shard, a Function URL request into an ingest request (and the task's answer back into the URL's
 * response), EventBridge / S3 notification / SQS / SNS events into a capture request. Tasks never see an
 * AWS event, so the same task runs from a backfill or a journal read without fake events or ARNs.
 */
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  KinesisStreamEvent,
} from 'aws-lambda';
import type { IngestRequest, IngestResponse } from '../shared/capture/http-ingest.ts';
import { SluiceError } from '../shared/errors.ts';
import { type DocBatch, decodeEvent } from '../shared/ports/events.ts';

// ------------------------------------------------------------------ Kinesis (event-source mappings)

/** A Kinesis event's documents as one batch (an event holds one shard); undefined when empty. */
export function kinesisBatch(
  event: KinesisStreamEvent,
  collectionOfArn: (arn: string) => string,
): DocBatch | undefined {
  const first = event.Records[0];
  if (!first) return undefined;
  const collection = collectionOfArn(first.eventSourceARN);
  let bytes = 0;
  // base64 → bytes without decoding twice: 3 bytes per 4 characters, less padding.
  for (const r of event.Records) {
    const d = r.kinesis.data;
    bytes += (d.length * 3) / 4 - (d.endsWith('==') ? 2 : d.endsWith('=') ? 1 : 0);
  }
  return {
    collection,
    shardId: first.eventID.slice(0, first.eventID.lastIndexOf(':')),
    docs: decodeEvent(event, collection),
    bytes,
  };
}

// ------------------------------------------------------------------ Function URL (HTTP ingest)

/** A Function URL event (payload format 2.0) as an HTTP request. */
export function httpRequest(event: APIGatewayProxyEventV2): IngestRequest {
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    headers: event.headers ?? {},
    query: Object.fromEntries(new URLSearchParams(event.rawQueryString ?? '')),
    body: event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0),
  };
}

/** A task's HTTP answer as the Function URL's response. */
export function httpResult(res: IngestResponse): APIGatewayProxyStructuredResultV2 {
  return { statusCode: res.status, headers: res.headers, body: res.body };
}

// ------------------------------------------------------------------ EventBridge, S3, SQS, SNS (source-s3)

/**
 * Deployed, the capture's function is invoked by EventBridge: S3 "Object Created" events of the bucket
 * (`detail.bucket.name`, `detail.object.key` as is, not URL-encoded) and, with `interval`, a schedule
 * ("Scheduled Event"). S3 event notifications (`Records[].s3`, keys URL-encoded) and SQS/SNS messages
 * carrying any of these are read too.
 */
export interface NotifiedObject {
  bucket: string;
  key: string;
  sequencer?: string;
}

/** What an invocation asks for: the objects it names, or a poll of the prefix. */
export type S3CaptureRequest = { kind: 'objects'; objects: NotifiedObject[] } | { kind: 'poll' };

/** An invocation event source-s3 cannot read objects (or a poll) from. */
export class UnknownEventError extends SluiceError {
  readonly code = 'UnknownEvent';
  constructor(event: unknown) {
    const shape =
      event !== null && typeof event === 'object'
        ? `an object with ${JSON.stringify(Object.keys(event).slice(0, 12))}`
        : typeof event;
    super(
      `source-s3: not an EventBridge S3 "Object Created" or "Scheduled Event", an S3 notification or an SQS/SNS message carrying one: got ${shape}`,
    );
    this.name = 'UnknownEventError';
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** The objects (or the poll) an invocation event asks for, whatever delivered it. */
export function s3CaptureRequest(event: unknown): S3CaptureRequest {
  const e = obj(event);
  if (!e) throw new UnknownEventError(event);
  // EventBridge
  if (e['detail-type'] === 'Scheduled Event') return { kind: 'poll' };
  if (e.source === 'aws.s3' && obj(e.detail)) {
    if (e['detail-type'] !== 'Object Created') return { kind: 'objects', objects: [] };
    const d = obj(e.detail)!;
    const bucket = str(obj(d.bucket)?.name);
    const key = str(obj(d.object)?.key);
    if (bucket === undefined || key === undefined) throw new UnknownEventError(event);
    return { kind: 'objects', objects: [{ bucket, key, sequencer: str(obj(d.object)?.sequencer) }] };
  }
  // S3's test message when a notification configuration is saved: nothing to read.
  if (e.Event === 's3:TestEvent') return { kind: 'objects', objects: [] };
  if (Array.isArray(e.Records)) {
    const objects: NotifiedObject[] = [];
    let poll = false;
    for (const r of e.Records.map(obj)) {
      if (!r) throw new UnknownEventError(event);
      const s3 = obj(r.s3);
      let inner: S3CaptureRequest | undefined;
      if (s3) {
        // S3 event notification: keys are URL-encoded, spaces as '+'.
        if (!str(r.eventName)?.startsWith('ObjectCreated')) continue;
        const bucket = str(obj(s3.bucket)?.name);
        const key = str(obj(s3.object)?.key);
        if (bucket === undefined || key === undefined) throw new UnknownEventError(event);
        objects.push({
          bucket,
          key: decodeURIComponent(key.replace(/\+/g, ' ')),
          sequencer: str(obj(s3.object)?.sequencer),
        });
        continue;
      }
      if (r.eventSource === 'aws:sqs' && typeof r.body === 'string') inner = s3CaptureRequest(parse(r.body));
      else if (obj(r.Sns) && typeof obj(r.Sns)!.Message === 'string')
        inner = s3CaptureRequest(parse(obj(r.Sns)!.Message as string));
      else throw new UnknownEventError(event);
      if (inner.kind === 'poll') poll = true;
      else objects.push(...inner.objects);
    }
    return poll && objects.length === 0 ? { kind: 'poll' } : { kind: 'objects', objects };
  }
  throw new UnknownEventError(event);
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
