/**
 * Parking (shared/ports/parking.ts): which failures park a document and which halt the shard, the
 * redrive batches (their own shard and sources, in position order), SLUICE_PARKED, and `sluice parked` /
 * `sluice redrive --stack` against AWS's API shapes (CloudFormation, Lambda, S3 answered in-process).
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { listParked, redriveParked } from '../../cli/parked.ts';
import { MemoryBlobStore } from '../../shared/adapters/memory.ts';
import { parseEnv } from '../../shared/config/env.ts';
import { EndpointError } from '../../shared/connectors/errors.ts';
import { DerivationError } from '../../shared/derive/errors.ts';
import type { SourceDoc } from '../../shared/ports/events.ts';
import {
  documentError,
  isRedriveSource,
  ParkingLot,
  parkedPrefix,
  redriveBatches,
  redriveSource,
} from '../../shared/ports/parking.ts';
import { encodePosition } from '../../shared/ports/position.ts';
import { ReduceError } from '../../shared/reduce/errors.ts';
import { SchemaValidationError } from '../../shared/schema/registry.ts';

const named = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error('x'), { name }, extra);

describe('documentError: what parks and what halts', () => {
  it("the document's own failures park", () => {
    expect(documentError(new DerivationError('TransformThrew', 'a/b', 'boom'))).toBe(true);
    expect(documentError(new ReduceError('SumNotNumber' as never, '/qty'))).toBe(true);
    expect(documentError(new SchemaValidationError([]))).toBe(true);
    expect(documentError(new EndpointError('Rejected', 'https://x', '422', 422))).toBe(true);
    expect(documentError(named('ValidationException'))).toBe(true); // DynamoDB: item too large
    expect(documentError(named('error', { code: '23514' }))).toBe(true); // PostgreSQL check violation
    expect(documentError(named('error', { code: '22P02' }))).toBe(true); // invalid text representation
  });

  it('outages halt, even under park', () => {
    expect(documentError(new DerivationError('ModuleLoad', 'a/b', 'cannot import'))).toBe(false);
    expect(documentError(new EndpointError('Unavailable', 'https://x', '503', 503))).toBe(false);
    expect(documentError(new EndpointError('Throttled', 'https://x', '429', 429))).toBe(false);
    expect(documentError(new EndpointError('Timeout', 'https://x', '408', 408))).toBe(false);
    expect(documentError(named('ProvisionedThroughputExceededException'))).toBe(false);
    expect(documentError(named('AccessDenied'))).toBe(false);
    expect(documentError(named('FencedError'))).toBe(false);
    expect(documentError(named('Error', { code: 'ECONNREFUSED' }))).toBe(false);
    expect(documentError(named('error', { code: '57P01' }))).toBe(false); // admin shutdown
    expect(documentError(named('error', { code: '40001' }))).toBe(false); // serialization failure
    expect(documentError('a string')).toBe(false);
  });
});

function doc(seq: string, index: number, shardId = 'shardId-000000000001', origin?: string): SourceDoc {
  const streamPosition = encodePosition(seq, index);
  return {
    doc: { id: `${seq}.${index}` },
    shardId,
    sequenceNumber: seq,
    index,
    streamPosition,
    source: origin ?? `acme/in/${shardId}`,
    position: origin ? `${streamPosition}:000:000000` : streamPosition,
    hasOrigin: origin !== undefined,
    arrivalMs: 1,
  };
}

describe('parking lot and redrive batches', () => {
  it('one object per document at its position; redrive batches per shard, in position order, on a redrive shard', async () => {
    const lot = new ParkingLot(new MemoryBlobStore(), parkedPrefix('derivation:acme/x'), 'derivation:acme/x');
    await lot.park('acme/in', doc('20', 1), new Error('late'));
    await lot.park('acme/in', doc('3', 0), new Error('early'));
    await lot.park('acme/in', doc('3', 0), new Error('early again')); // the same document: overwritten
    await lot.park(
      'acme/in',
      doc('5', 2, 'shardId-000000000002', 'acme/up/shardId-000000000009'),
      new Error('o'),
    );
    const listed = await lot.list();
    // Keys are the padded positions: listing order is position order.
    expect(listed.map((l) => l.key)).toEqual([
      `_sluice/parked/derivation:acme/x/acme/in/shardId-000000000001/${encodePosition('3', 0)}.json`,
      `_sluice/parked/derivation:acme/x/acme/in/shardId-000000000001/${encodePosition('20', 1)}.json`,
      `_sluice/parked/derivation:acme/x/acme/in/shardId-000000000002/${encodePosition('5', 2)}.json`,
    ]);
    expect(listed[0].parked.error).toBe('Error: early again');
    const batches = redriveBatches([...listed].reverse());
    expect(batches).toHaveLength(2);
    const one = batches.find((b) => b.batch.shardId.endsWith('1'))!;
    const two = batches.find((b) => b.batch.shardId.endsWith('2'))!;
    expect(one.batch).toMatchObject({
      collection: 'acme/in',
      shardId: 'redrive-shardId-000000000001',
      redrive: true,
    });
    // Position order (3 before 20), whatever order they were listed in.
    expect(one.batch.docs.map((d) => d.sequenceNumber)).toEqual(['3', '20']);
    expect(one.batch.docs[0].source).toBe('acme/in/redrive-shardId-000000000001');
    expect(one.keys[0]).toContain(encodePosition('3', 0));
    // A derived document keeps its origin's position under a source of its own.
    expect(two.batch.docs[0]).toMatchObject({
      source: 'acme/up/shardId-000000000009#redrive',
      position: `${encodePosition('5', 2)}:000:000000`,
      hasOrigin: true,
    });
    // Parked again during a redrive: stored under its original shard and source.
    await lot.park('acme/in', two.batch.docs[0], new Error('again'), 1);
    const again = (await lot.list()).find((l) => l.key.includes('shardId-000000000002'))!;
    expect(again.parked).toMatchObject({
      shardId: 'shardId-000000000002',
      source: 'acme/up/shardId-000000000009',
      redriveAttempts: 1,
    });
    await lot.remove(again.key);
    expect(await lot.list()).toHaveLength(2);
  });

  it('SLUICE_PARKED: the parking place, or a clear error', () => {
    expect(parseEnv({ SLUICE_PARKED: 's3://b/_sluice/parked/derivation:a/b/' }).parked).toEqual({
      bucket: 'b',
      prefix: '_sluice/parked/derivation:a/b/',
    });
    expect(parseEnv({}).parked).toBeUndefined();
    expect(() => parseEnv({ SLUICE_PARKED: 'b/prefix' })).toThrow(
      /SLUICE_PARKED="b\/prefix": expected s3:\/\/bucket\/prefix\//,
    );
  });
});

/** Answer a client's commands in-process (no network): `answer(commandName, input)`. */
function answering<C extends { middlewareStack: { add: (...a: never[]) => void } }>(
  client: C,
  answer: (command: string, input: Record<string, unknown>) => unknown,
  calls: { command: string; input: Record<string, unknown> }[],
): C {
  (client.middlewareStack as unknown as { add: (m: unknown, o: unknown) => void }).add(
    (_next: unknown, context: { commandName: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        const command = context.commandName;
        calls.push({ command, input: args.input });
        return { output: { $metadata: {}, ...(answer(command, args.input) as object) }, response: {} };
      },
    { step: 'initialize', name: 'answerInProcess' },
  );
  return client;
}

describe('sluice parked / redrive --stack (AWS API shapes, answered in-process)', () => {
  it('finds the task function by its label, reads its parking place, invokes it with the redrive event', async () => {
    const calls: { command: string; input: Record<string, unknown> }[] = [];
    const store = new MemoryBlobStore();
    const place = { bucket: 'flow-bucket', prefix: '_sluice/parked/derivation:acme/x/' };
    await new ParkingLot(store, place.prefix, 'derivation:acme/x').park(
      'acme/in',
      doc('7', 0),
      new Error('bad'),
    );
    const body = await store.get((await store.list(place.prefix))[0]);
    const opts = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
    const clients = {
      cloudformation: answering(
        new CloudFormationClient(opts),
        () => ({
          StackResourceSummaries: [
            { ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: 'fn-persist' },
            { ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: 'fn-derive' },
            { ResourceType: 'AWS::S3::Bucket', PhysicalResourceId: 'flow-bucket' },
          ],
        }),
        calls,
      ),
      lambda: answering(
        new LambdaClient(opts),
        (command, input) =>
          command === 'GetFunctionConfigurationCommand'
            ? {
                Environment: {
                  Variables:
                    input.FunctionName === 'fn-derive'
                      ? {
                          SLUICE_TASK: 'acme/x',
                          POWERTOOLS_SERVICE_NAME: 'derivation:acme/x',
                          SLUICE_PARKED: `s3://${place.bucket}/${place.prefix}`,
                        }
                      : { SLUICE_TASK: 'acme/x', POWERTOOLS_SERVICE_NAME: 'persister:acme/x' },
                },
              }
            : {
                StatusCode: 200,
                Payload: Buffer.from(JSON.stringify({ redriven: 1, remaining: 0, failures: [] })),
              },
        calls,
      ),
      s3: answering(
        new S3Client(opts),
        (command) =>
          command === 'ListObjectsV2Command'
            ? {
                Contents: [
                  { Key: (calls.at(-1)?.input.Prefix as string) + 'acme/in/shardId-000000000001/p.json' },
                ],
              }
            : { Body: { transformToByteArray: async () => body }, ContentLength: body?.length },
        calls,
      ),
    };
    const listed = await listParked('acme/x', { stack: 'Flow' }, clients);
    expect(listed.label).toBe('derivation:acme/x'); // the bare name picks the task that parks
    expect(listed.docs).toHaveLength(1);
    expect(listed.docs[0]).toMatchObject({ collection: 'acme/in', error: 'Error: bad' });
    expect(calls.find((c) => c.command === 'ListObjectsV2Command')?.input).toMatchObject({
      Bucket: 'flow-bucket',
      Prefix: '_sluice/parked/derivation:acme/x/',
    });

    const r = await redriveParked('derivation:acme/x', { stack: 'Flow' }, clients);
    expect(r.result).toEqual({ redriven: 1, remaining: 0, failures: [] });
    const invoke = calls.find((c) => c.command === 'InvokeCommand');
    expect(invoke?.input).toMatchObject({ FunctionName: 'fn-derive', InvocationType: 'RequestResponse' });
    expect(JSON.parse(Buffer.from(invoke?.input.Payload as Uint8Array).toString())).toEqual({
      sluiceRedrive: {},
    });

    await expect(redriveParked('persister:acme/x', { stack: 'Flow' }, clients)).rejects.toThrow(
      /persister:acme\/x does not park documents: its failure policy is halt/,
    );
  });
});

describe('redrive sources', () => {
  it('a source, its redrive twin and a record alone under it map back to the source; pruning keeps them', () => {
    const s = 'acme/cap/bucket/in/a.jsonl#0123456789abcdef';
    expect(redriveSource(s)).toBe(`${s}#redrive`);
    expect(redriveSource(`${s}#redrive`)).toBe(`${s}#redrive`);
    expect(redriveSource(s, '000000000003')).toBe(`${s}#redrive:000000000003`);
    expect(redriveSource(`${s}#redrive:000000000003`)).toBe(`${s}#redrive`);
    for (const r of [`${s}#redrive`, `${s}#redrive:000000000003`, 'acme/events/redrive-shardId-0'])
      expect(isRedriveSource(r), r).toBe(true);
    // A key or file name that merely contains the word is not one.
    for (const r of [s, 'acme/cap/bucket/in/#redrive/a.jsonl#0123456789abcdef', 'acme/events/shardId-0'])
      expect(isRedriveSource(r), r).toBe(false);
  });
});
