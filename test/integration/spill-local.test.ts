/**
 * Documents too large for a DynamoDB item on the local stack, through the synthesized cloud assembly:
 * the persister and materialize-dynamodb run from their bundles under their template roles (the proxy
 * enforces them, so the spill grants are exercised), against dynalite (400 KB item limit) and s3rver.
 * A document grows past 400 KB through `append`, is read back equal by `sluice read`, the persister's
 * view and the materialized table, and shrinks back inline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runRead } from '../../cli/read.ts';
import { DynamoStateStore, DynamoTable } from '../../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import {
  DOCUMENT_ATTR,
  DOCUMENT_REF_ATTR,
  DynamoDbConnector,
} from '../../shared/connectors/materialize-dynamodb.ts';
import type { Json } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { postJson } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/spill/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

/** 100 KB of log lines, distinct per step. */
const lines = (step: number): string[] =>
  Array.from({ length: 100 }, (_, i) => `${step}:${i}:`.padEnd(1000, String.fromCharCode(97 + (step % 26))));

/** A document without the `_meta` HTTP ingest adds (receivedAt, uuid, webhookId: they vary). */
function strip(doc: unknown): unknown {
  const { _meta: _, ...rest } = doc as Record<string, unknown>;
  return rest;
}

function post(runner: AssemblyRunner, docs: Json[]): Promise<number> {
  return postJson(`${runner.ingestUrl}/test/ingest/logs`, docs);
}

describe('local stack: documents over the DynamoDB item limit', () => {
  it('grow past 400 KB through append, are read back equal by every reader under the template IAM, and go back inline', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-spill-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(FIXTURE, { dataDir });
    cleanup.push(() => runner.stop());
    const blobsOf = (bucket: string) => new S3BlobStore({ client: runner.admin.s3, bucket });
    const state = new DynamoStateStore({
      client: runner.admin.dynamodb,
      table: runner.resources.stateTable as string,
      blobs: blobsOf,
    });
    const materialized = new DynamoDbConnector({
      spec: fixture.catalog.materializations['test/logs-to-dynamo'],
      catalog: fixture.catalog,
      client: runner.admin.dynamodb,
      blobs: blobsOf,
    });

    let expected: string[] = [];
    for (let step = 0; step < 5; step++) {
      expect(await post(runner, [{ id: 'k1', title: `step ${step}`, log: lines(step) }])).toBe(200);
      await runner.drain();
      expected = expected.concat(lines(step));
    }
    const want = { id: 'k1', title: 'step 4', log: expected };
    expect(JSON.stringify(want).length).toBeGreaterThan(400 * 1024);
    const docsOf = async () => {
      const out: Json[] = [];
      for await (const it of state.scan('test/logs')) out.push(strip(it.doc) as Json);
      return out;
    };
    expect(await docsOf()).toEqual([want]);
    // The persister spilled it beside the collection's fragment folder.
    const view = await state.load('test/logs', [(await state.page('test/logs', { limit: 1 })).items[0].key]);
    expect([...view.values()].map((i) => strip(i.doc))).toEqual([want]);
    // materialize-dynamodb: the item holds the small fields and the pointer, the table reader resolves it.
    const items = await materialized.items(0);
    expect(items.map((i) => strip(i[DOCUMENT_ATTR]))).toEqual([want]);
    expect(items[0].title).toBe('step 4');
    expect(items[0].log).toBeUndefined();
    expect(String(items[0][DOCUMENT_REF_ATTR])).toMatch(
      /^s3:\/\/[^/]+\/_sluice\/spill\/materialization\/test\/logs-to-dynamo\/[0-9a-f]{64}\.json$/,
    );

    // It shrinks: inline again in both stores.
    expect(await post(runner, [{ id: 'k1', log: ['small'], reset: true }])).toBe(200);
    await runner.drain();
    const small = { id: 'k1', title: 'step 4', log: ['small'], reset: true };
    expect(await docsOf()).toEqual([small]);
    const raw = await new DynamoTable({
      client: runner.admin.dynamodb,
      table: 'test_logs',
      partitionKey: { name: 'id', type: 'S' },
    }).batchGet([{ id: 'k1' }]);
    expect(raw[0][DOCUMENT_REF_ATTR]).toBeUndefined();
    expect(strip(raw[0][DOCUMENT_ATTR])).toEqual(small);

    // Grown again, `sluice read` on the stopped stack resolves the pointer through the emulators.
    for (let step = 5; step < 10; step++) {
      expect(await post(runner, [{ id: 'k1', log: lines(step) }])).toBe(200);
      await runner.drain();
    }
    await runner.stop();
    const out: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out.push(String(chunk));
        cb();
      },
    });
    expect(await runRead('test/logs', { catalog: FIXTURE, data: dataDir }, sink)).toBe(0);
    const grown = ['small', ...[5, 6, 7, 8, 9].flatMap(lines)];
    expect(
      out
        .join('')
        .trim()
        .split('\n')
        .map((l) => strip(JSON.parse(l))),
    ).toEqual([{ ...small, log: grown }]);
  });
});
