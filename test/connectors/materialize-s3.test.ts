import { gunzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3AccessDeniedError, S3BlobStore } from '../../shared/adapters/s3.ts';
import { ConnectorConfigError } from '../../shared/connectors/errors.ts';
import { checkpointFolderOf, S3Materialization } from '../../shared/connectors/materialize-s3.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { MaterializeTransaction } from '../../shared/materialize/connector.ts';
import { metaUuid } from '../../shared/meta/uuid.ts';
import { pos } from './driver.ts';
import { materialization } from './fixtures.ts';
import { type S3Env, startS3 } from './s3-support.ts';

let s3: S3Env;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

const T1 = Date.parse('2024-03-05T07:15:00Z');
const T2 = Date.parse('2024-03-05T09:59:00Z');
const doc = (id: number, t: number): JsonObject => ({
  id,
  qty: id,
  _meta: { uuid: metaUuid(t, 'test', id) },
});

describe('materialize-s3 against the S3 emulator', () => {
  it('writes gzipped JSON lines into Hive-style hourly partitions; a retry overwrites the same objects', async () => {
    const bucket = await s3.bucket('lake');
    const spec = materialization('acme/lake', 'materialize-s3', { bucket: 'lake', prefix: 'flow/' }, [
      { path: 'orders/' },
    ]);
    const m = await S3Materialization.create({ spec, blobs: s3.blobs });
    expect((await m.open()).checkpoint).toEqual({});
    const txn: MaterializeTransaction = {
      bindings: [
        {
          binding: 0,
          docs: [
            { key: [1], doc: doc(1, T1), deleted: false },
            { key: [2], doc: doc(2, T2), deleted: false },
            { key: [3], doc: doc(3, T1), deleted: true },
          ],
        },
      ],
      checkpoint: { 'acme/orders/shard-0': pos(42, 3) },
    };
    await m.commit(txn);
    const keys = (await bucket.list('flow/orders/')).sort();
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(
      /^flow\/orders\/utc_date=2024-03-05\/utc_hour=07\/42\.3-[0-9a-f]{16}\.jsonl\.gz$/,
    );
    expect(keys[1]).toMatch(/^flow\/orders\/utc_date=2024-03-05\/utc_hour=09\//);
    const lines = new TextDecoder()
      .decode(gunzipSync((await bucket.get(keys[0] as string)) as Uint8Array))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JsonObject);
    expect(lines.map((l) => [l.id, (l._meta as JsonObject).op])).toEqual([
      [1, undefined],
      [3, 'd'],
    ]);
    expect((await m.open()).checkpoint).toEqual({ 'acme/orders/shard-0': pos(42, 3) });
    // the same transaction again (a retry): same object names, nothing new
    await m.commit(txn);
    expect((await bucket.list('flow/orders/')).sort()).toEqual(keys);
    // a later transaction: new names, checkpoint advances
    await m.commit({
      bindings: [{ binding: 0, docs: [{ key: [4], doc: doc(4, T1), deleted: false }] }],
      checkpoint: { 'acme/orders/shard-0': pos(50) },
    });
    expect(await bucket.list('flow/orders/')).toHaveLength(3);
    expect((await m.open()).checkpoint).toEqual({ 'acme/orders/shard-0': pos(50) });
  });

  it('shards committing at the same time both keep their checkpoint (no read-modify-write of one object)', async () => {
    await s3.bucket('lake3');
    const spec = materialization('acme/lake3', 'materialize-s3', { bucket: 'lake3', prefix: 'p/' }, [
      { path: 'orders' },
    ]);
    // Every read of a checkpoint object waits until two reads are pending (or 300 ms): two concurrent
    // commits that read-modify-write one shared object would both read the old state, and one shard's
    // entry would be lost. Commits that never read cannot interleave that way.
    let waiting: (() => void)[] = [];
    const blobs = (c: Parameters<typeof s3.blobs>[0]) => {
      const inner = s3.blobs(c);
      return Object.assign(Object.create(inner), {
        get: async (key: string) => {
          if (key.includes('_sluice/checkpoints/')) {
            await new Promise<void>((release) => {
              waiting.push(release);
              if (waiting.length >= 2) {
                for (const r of waiting) r();
                waiting = [];
              } else setTimeout(release, 300);
            });
          }
          return inner.get(key);
        },
      });
    };
    const m = await S3Materialization.create({ spec, blobs });
    const commit = (shard: string, seq: number) =>
      m.commit({
        bindings: [{ binding: 0, docs: [{ key: [seq], doc: doc(seq, T1), deleted: false }] }],
        checkpoint: { [`acme/orders/${shard}`]: pos(seq) },
      });
    await Promise.all([commit('shard-0', 10), commit('shard-1', 20)]);
    const fresh = await S3Materialization.create({ spec, blobs: s3.blobs });
    expect((await fresh.open()).checkpoint).toEqual({
      'acme/orders/shard-0': pos(10),
      'acme/orders/shard-1': pos(20),
    });
  });

  it('names stay under the 1,024-byte S3 key limit when many bindings of one collection commit together', async () => {
    // A live transaction's checkpoint holds the shard's position and, for each backfilled binding of the
    // collection, its own (`<collection>/<shard>#<binding>@<backfill>`), all at the batch's end: 20
    // bindings (e.g. one per partition) used to put 21 copies of a 56-digit sequence number in the name.
    const bindings = Array.from({ length: 20 }, (_, i) => ({ path: `region-${i}` }));
    const spec = materialization(
      'acme/lake-wide',
      'materialize-s3',
      { bucket: 'lake', prefix: 'flow' },
      bindings,
    );
    const m = await S3Materialization.create({ spec, blobs: s3.blobs });
    const seq = '49680701367244815662950024779413906070437406296869175298';
    const end = `${seq.padStart(128, '0')}:000059`;
    const shard = 'acme/orders/shardId-000000000000';
    const checkpoint: Record<string, string> = { [shard]: end };
    bindings.forEach((_, i) => {
      checkpoint[`${shard}#acme/orders#{"path":"region-${i}"}@0`] = end;
    });
    const txn: MaterializeTransaction = {
      bindings: bindings.map((_, i) => ({
        binding: i,
        docs: [{ key: [i], doc: doc(i, T1), deleted: false }],
      })),
      checkpoint,
    };
    const keys = m.objectKeys(txn).map((o) => o.key);
    expect(keys).toHaveLength(20);
    for (const k of keys) {
      expect(Buffer.byteLength(k)).toBeLessThanOrEqual(1024);
      expect(k).toMatch(new RegExp(`/utc_hour=07/${seq}\\.59-[0-9a-f]{16}\\.jsonl\\.gz$`));
    }
    // Still one name per transaction and binding: another checkpoint, other names.
    const other = m.objectKeys({
      ...txn,
      checkpoint: { ...checkpoint, [shard]: `${seq.padStart(128, '0')}:000060` },
    });
    expect(other.map((o) => o.key).filter((k) => keys.includes(k))).toEqual([]);
  });

  it('rejects a resource without path', async () => {
    const spec = materialization('acme/lake2', 'materialize-s3', { bucket: 'lake' }, [{ table: 'x' }]);
    const err = (await S3Materialization.create({ spec, blobs: s3.blobs }).catch(
      (e: unknown) => e,
    )) as ConnectorConfigError;
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(err.issues.map((i) => i.pointer).sort()).toEqual(['/path', '/table']);
  });
});

describe('materialize-s3 checkpoint reads and S3 errors', () => {
  /** An S3 client whose every call fails the way S3 (or the SDK) reports it. */
  const failing = (name: string, status: number) =>
    ({
      send: async () => {
        throw Object.assign(new Error(name === 'Unknown' ? 'UnknownError' : name), {
          name,
          $metadata: { httpStatusCode: status },
        });
      },
    }) as unknown as S3Client;
  const spec = materialization('acme/lake', 'materialize-s3', { bucket: 'lake', prefix: 'rollups' }, [
    { path: 'orders' },
  ]);

  it('the checkpoint folder (what the stack grants GetObject and ListBucket under) is under the prefix', () => {
    expect(checkpointFolderOf('rollups', 'acme/lake')).toBe('rollups/_sluice/checkpoints/acme/lake/');
    expect(checkpointFolderOf('rollups/', 'acme/lake')).toBe('rollups/_sluice/checkpoints/acme/lake/');
    expect(checkpointFolderOf('', 'acme/lake')).toBe('_sluice/checkpoints/acme/lake/');
  });

  it('a 403 is never taken for "no checkpoint yet": the error names the operation and the folder', async () => {
    // AccessDenied with a body, and the body-less 403 the SDK names 'Unknown'.
    for (const name of ['AccessDenied', 'Unknown']) {
      const m = await S3Materialization.create({
        spec,
        blobs: (c) => new S3BlobStore({ client: failing(name, 403), bucket: c.bucket }),
      });
      const err = (await m.open().catch((e: unknown) => e)) as S3AccessDeniedError;
      expect(err, name).toBeInstanceOf(S3AccessDeniedError);
      expect(err.message).toContain('ListBucket s3://lake/rollups/_sluice/checkpoints/acme/lake/');
    }
  });
});
