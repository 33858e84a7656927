/**
 * SDK clients, made once per process from the typed environment. Against the local emulators the Kinesis
 * client must speak HTTP/1.1 (NodeHttpHandler: kinesalite fails with the SDK's default), and the S3
 * client must not send aws-chunked streaming checksums (s3rver stores them corrupted).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { SluiceEnv } from '../config/env.ts';

export interface AwsClients {
  kinesis: KinesisClient;
  dynamodb: DynamoDBClient;
  s3: S3Client;
}

export interface ClientOptions {
  region: string;
  endpoints: SluiceEnv['endpoints'];
  /** Explicit credentials (the emulators accept S3RVER/S3RVER); default: the SDK's provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** SDK retry attempts (default: SDK default 3). Tests set 1 so that injected faults reach our own retries. */
  maxAttempts?: number;
}

export function makeClients(o: ClientOptions): AwsClients {
  const common = {
    region: o.region,
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}),
  };
  const httpHandler = new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 });
  return {
    kinesis: quiet(
      new KinesisClient({
        ...common,
        ...(o.endpoints.kinesis ? { endpoint: o.endpoints.kinesis } : {}),
        requestHandler: httpHandler,
      }),
    ),
    // DynamoDB and S3 calls add no middleware of their own per command, so the middleware stack is
    // resolved once per command type (the SDK's `cacheMiddleware`) instead of sorted and built again for
    // each call. (Kinesis PutRecords adds `noBlindRetry` per command: kinesis-landed.ts.)
    dynamodb: quiet(
      new DynamoDBClient({
        ...common,
        ...(o.endpoints.dynamodb ? { endpoint: o.endpoints.dynamodb } : {}),
        cacheMiddleware: true,
      }),
    ),
    s3: quiet(
      new S3Client({
        ...common,
        ...(o.endpoints.s3 ? { endpoint: o.endpoints.s3, forcePathStyle: true } : {}),
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        cacheMiddleware: true,
      }),
    ),
  };
}

/**
 * Without the SDK's logger middleware: Sluice gives the clients no logger, yet that middleware builds
 * each call's log entry for the default no-op logger all the same — a copy of the whole input and output
 * walked against the operation's schema to mask sensitive members (`schemaLogFilter`), per call.
 */
function quiet<C extends { middlewareStack: { remove(name: string): boolean } }>(client: C): C {
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

/** Credentials the three emulators accept. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export function destroyClients(c: AwsClients): void {
  c.kinesis.destroy();
  c.dynamodb.destroy();
  c.s3.destroy();
}
