/**
 * materialize-s3 on the local stack with S3 refusing a PutObject midway through a transaction: the
 * transaction's first data file (path `a`) is written, the second (path `b`) is refused (503 SlowDown,
 * every attempt the SDK makes), so its checkpoint object is not written and the batch fails. Delivered
 * again with the same boundaries, the transaction writes the same object names (a retry overwrites):
 * every document ends up in each path's files exactly once, and the checkpoint object of the source shard
 * holds its position.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { postJson, SLOW_DOWN } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/connector-faults/lake.flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

describe('materialize-s3 with a PutObject refused midway through a transaction', () => {
  it('the retried transaction overwrites its files: each document once per path, the checkpoint at the end', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-s3-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const refused: string[] = [];
    const written: string[] = [];
    const runner = await startAssembly(FIXTURE, {
      dataDir,
      shards: 1,
      hooks: {
        before: (c) => {
          const put = c.iam.find((r) => r.action === 's3:PutObject');
          if (!put?.resource.startsWith('arn:aws:s3:::faults-lake/lake/b/') || refused.length >= 3)
            return undefined;
          refused.push(put.resource);
          return SLOW_DOWN;
        },
        after: (c, status) => {
          const put = c.iam.find((r) => r.action === 's3:PutObject');
          if (put?.resource.startsWith('arn:aws:s3:::faults-lake/') && status === 200)
            written.push(put.resource);
        },
      },
    });
    cleanup.push(() => runner.stop());
    const lake = new S3BlobStore({ client: runner.admin.s3, bucket: 'faults-lake' });
    await lake.ensureBucket();

    const sent = Array.from({ length: 60 }, (_, i) => ({ id: `e${i}`, n: i }));
    expect(await postJson(`${runner.ingestUrl}/faults/ingest/events`, sent)).toBe(200);
    await runner.drain();
    // The SDK's three attempts of the one object were refused, after path a's file was written.
    expect(refused).toHaveLength(3);
    expect(new Set(refused).size).toBe(1);
    expect(runner.task('materialization:faults/lake').metrics.TaskErrors ?? 0).toBeGreaterThan(0);

    const ids = async (path: string) => {
      const out: string[] = [];
      for (const k of await lake.list(`lake/${path}/`)) {
        expect(k).toMatch(
          new RegExp(
            `^lake/${path}/utc_date=\\d{4}-\\d{2}-\\d{2}/utc_hour=\\d{2}/\\d+\\.\\d+-[0-9a-f]{16}\\.jsonl\\.gz$`,
          ),
        );
        for (const line of gunzipSync((await lake.get(k)) as Uint8Array)
          .toString()
          .split('\n'))
          if (line) out.push((JSON.parse(line) as { id: string }).id);
      }
      return out.sort();
    };
    const all = sent.map((d) => d.id).sort();
    expect(await ids('a')).toEqual(all);
    expect(await ids('b')).toEqual(all);
    // Path a's file of the failed attempt was written again (same name), not beside it.
    const aFiles = written.filter((k) => k.includes('/lake/a/'));
    expect(new Set(aFiles).size).toBe((await lake.list('lake/a/')).length);
    expect(aFiles.length).toBeGreaterThan(new Set(aFiles).size);

    // One checkpoint object per entry (the source shard, each binding's own position and backfill
    // markers): the shard's and the bindings' own positions all at the batch's last position.
    const entries: Record<string, string> = {};
    for (const k of await lake.list('lake/_sluice/checkpoints/faults/lake/')) {
      const e = JSON.parse(Buffer.from((await lake.get(k)) as Uint8Array).toString()) as {
        entry: string;
        position: string;
      };
      entries[e.entry] = e.position;
    }
    const positions = Object.entries(entries).filter(([e]) => e.startsWith('faults/events/'));
    expect(positions.map(([e]) => e.replace(/#.*/, '#…')).sort()).toEqual([
      expect.stringMatching(/^faults\/events\/shardId-\d+$/),
      expect.stringMatching(/^faults\/events\/shardId-\d+#…$/),
      expect.stringMatching(/^faults\/events\/shardId-\d+#…$/),
    ]);
    expect(new Set(positions.map(([, p]) => p)).size).toBe(1);
    expect(positions[0]?.[1]).toMatch(/^\d{128}:\d{6}$/);
    expect(runner.denied).toEqual([]);
  });
});
