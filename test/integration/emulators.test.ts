/**
 * The emulators' own files: with a data folder, S3's objects stay in `<data>/s3` for the next run;
 * without one (tests, benches, one-off runs), they go to a temp folder that stopping removes. It used to
 * stay behind, one `sluice-s3-…` folder per run.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { EMULATOR_CREDENTIALS } from '../../shared/adapters/clients.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { startEmulators } from '../../shared/local/emulators.ts';

const s3Temps = () => readdirSync(tmpdir()).filter((f) => f.startsWith('sluice-s3-'));

async function putOne(endpoint: string): Promise<void> {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: EMULATOR_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const bucket = new S3BlobStore({ client, bucket: 'bkt' });
  await bucket.ensureBucket();
  await bucket.put('k.txt', Buffer.from('x'), 'text/plain');
  client.destroy();
}

describe('emulators', () => {
  it('without a data folder, S3 writes to a temp folder that stop() removes', async () => {
    const before = s3Temps();
    const emulators = await startEmulators();
    await putOne(emulators.endpoints.s3);
    const during = s3Temps().filter((f) => !before.includes(f));
    expect(during).toHaveLength(1);
    expect(readdirSync(join(tmpdir(), during[0]))).toContain('bkt');
    await emulators.stop();
    expect(s3Temps()).toEqual(before);
  });

  it('with a data folder, S3 objects stay there after stop()', async () => {
    const data = mkdtempSync(join(tmpdir(), 'emulators-data-'));
    const emulators = await startEmulators({ dataDir: data });
    await putOne(emulators.endpoints.s3);
    await emulators.stop();
    expect(readdirSync(join(data, 's3'))).toContain('bkt');
  });
});
