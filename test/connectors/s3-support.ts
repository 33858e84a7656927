/** The S3 emulator (s3rver via shared/local/emulators.ts) and a BlobStore factory for connector tests. */
import { S3Client } from '@aws-sdk/client-s3';
import { EMULATOR_CREDENTIALS } from '../../shared/adapters/clients.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import type { BlobStoreFactory } from '../../shared/connectors/source-s3.ts';
import { type Emulators, startEmulators } from '../../shared/local/emulators.ts';

export interface S3Env {
  emulators: Emulators;
  client: S3Client;
  blobs: BlobStoreFactory;
  bucket(name: string): Promise<S3BlobStore>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Env> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const emulators = await startEmulators();
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: emulators.endpoints.s3,
    forcePathStyle: true,
    credentials: EMULATOR_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const blobs: BlobStoreFactory = (c) => new S3BlobStore({ client, bucket: c.bucket });
  return {
    emulators,
    client,
    blobs,
    bucket: async (name) => {
      const b = new S3BlobStore({ client, bucket: name });
      await b.ensureBucket();
      return b;
    },
    stop: async () => {
      client.destroy();
      await emulators.stop();
    },
  };
}
