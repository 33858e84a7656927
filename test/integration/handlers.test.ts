/**
 * The Lambda entry points as deployed: `export const handler` of functions/*.ts, configured only by the
 * environment (SLUICE_CATALOG as JSON, SLUICE_TASK, AWS_ENDPOINT_URL_*), built at module scope, driven
 * with AWS-shaped events against the emulators.
 */
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { MemoryStateStore } from '../../shared/adapters/memory.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { streamNameFor } from '../../shared/config/env.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { EventSourceMapping } from '../../shared/local/esm.ts';
import { startStack, uniqueName } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
let emulators: Emulators;
let clients: AwsClients;
const prefix = uniqueName('fn');

beforeAll(async () => {
  ({ emulators, clients } = await startStack());
  const { catalog } = await loadCatalog(FIXTURE);
  Object.assign(process.env, {
    SLUICE_CATALOG: JSON.stringify(catalog),
    SLUICE_TASK: 'test/ingest',
    SLUICE_PREFIX: prefix,
    AWS_ENDPOINT_URL_KINESIS: emulators.endpoints.kinesis,
    AWS_ENDPOINT_URL_DYNAMODB: emulators.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: emulators.endpoints.s3,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
  });
  const journal = new KinesisJournal({
    client: clients.kinesis,
    streamName: (c) => streamNameFor(prefix, c),
  });
  await journal.ensureStream('test/events', 1);
  await new DynamoStateStore({ client: clients.dynamodb, table: `${prefix}-state` }).ensureTable();
  await new S3BlobStore({ client: clients.s3, bucket: `${prefix}-fragments` }).ensureBucket();
});
afterAll(async () => {
  await emulators?.stop();
});

describe('Lambda handlers configured by the environment', () => {
  it('ingest (Function URL event) appends to the stream; persist (Kinesis event) writes fragments and the view', async () => {
    const ingest = await import('../../functions/ingest.ts');
    const event = {
      version: '2.0',
      rawPath: '/test/ingest/events',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      isBase64Encoded: false,
      body: JSON.stringify([
        { id: 'a', user: 'u', amount: 1 },
        { id: 'b', user: 'u', amount: 2 },
      ]),
      requestContext: { http: { method: 'POST', path: '/test/ingest/events' } },
    } as unknown as APIGatewayProxyEventV2;
    const res = await ingest.handler(event);
    expect(res.statusCode).toBe(200);
    const bad = await ingest.handler({ ...event, body: '{"id": "c"}' });
    expect(bad.statusCode).toBe(400);

    // The persister's handler, invoked through the mapping emulator with the stream's events.
    process.env.SLUICE_TASK = 'test/events';
    const persist = await import('../../functions/persist.ts');
    const journal = new KinesisJournal({
      client: clients.kinesis,
      streamName: (c) => streamNameFor(prefix, c),
    });
    const esm = new EventSourceMapping({
      task: 'persist',
      collection: 'test/events',
      streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamNameFor(prefix, 'test/events')}`,
      journal,
      checkpoints: new MemoryStateStore(),
      handler: persist.handler,
    });
    await esm.drain();
    expect(esm.stats).toMatchObject({ docs: 2, errors: 0 });
    const blobs = new S3BlobStore({ client: clients.s3, bucket: `${prefix}-fragments` });
    expect((await blobs.list('test/events/')).length).toBe(1);
    const state = new DynamoStateStore({ client: clients.dynamodb, table: `${prefix}-state` });
    const ids: string[] = [];
    for await (const it of state.scan('test/events')) ids.push((it.doc as { id: string }).id);
    expect(ids).toEqual(['a', 'b']);
  });
});
