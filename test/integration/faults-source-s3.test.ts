/**
 * source-s3 on the local stack (objects' "Object Created" events and the capture's scheduled poll),
 * lines summed per sku downstream, so a line read twice would count twice:
 * - the poll appends an object an event already brought, then saving its state fails (S3 refusing the
 *   state object's PutObject on every SDK attempt); EventBridge polls again and appends it once more:
 *   three copies of every line in the stream, each counted once (same origins: docs/connectors.md,
 *   "Captures exactly once");
 * - an object with a malformed line: none of its lines is appended (not those before the bad one), its
 *   event fails every attempt and lands on the capture's dead-letter queue, and the poll halts at it
 *   (fails, state unchanged) until the object is fixed; then its lines arrive, once;
 * - under `park`, an object with a malformed line and a document its schema refuses: those two are
 *   parked, the rest appended; after the fix, the poll's first read of the object does not append the
 *   parked document (it passes now, but only the redrive appends it), `sluice redrive` appends it once, a
 *   redelivered event after that adds nothing, and the malformed line stays parked.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { assemblyOf, integrationFixture, startAssembly } from '../support/assembly.ts';
import { stateSaveRefusals } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/connector-faults/files.flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

async function view(runner: AssemblyRunner): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const store = new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
  for await (const it of store.scan('faults/sku-sums')) {
    const d = it.doc as { sku: string; qty: number };
    out[d.sku] = d.qty;
  }
  return out;
}

function oracle(lines: { sku: string; qty: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lines) out[l.sku] = (out[l.sku] ?? 0) + l.qty;
  return out;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('source-s3: a poll that dies before saving its state, an object with a malformed line', () => {
  it('re-read objects count once; the bad object is captured by nothing until fixed, nothing skipped', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-s3src-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const refusals = stateSaveRefusals('faults/from-s3', 3);
    const runner = await startAssembly(FIXTURE, { dataDir, hooks: refusals.hooks });
    cleanup.push(() => runner.stop());
    const drop = new S3BlobStore({ client: runner.admin.s3, bucket: 'faults-drop' });
    await drop.ensureBucket();
    const capture = runner.task('capture:faults/from-s3').fn;
    const put = (key: string, body: string) =>
      runner.admin.s3.send(new PutObjectCommand({ Bucket: 'faults-drop', Key: key, Body: body }));
    const jsonl = (ls: unknown[]) => ls.map((l) => JSON.stringify(l)).join('\n');
    const captured: { sku: string; qty: number }[] = [];

    // o1 arrives by its event.
    const o1 = [
      { sku: 'a', qty: 1 },
      { sku: 'b', qty: 2 },
      { sku: 'a', qty: 3 },
    ];
    await put('incoming/o1.jsonl', jsonl(o1));
    captured.push(...o1);
    await until('o1 captured', async () => {
      await runner.drain();
      return JSON.stringify(await view(runner)) === JSON.stringify(oracle(captured));
    });
    expect(capture.stats.errors).toBe(0);

    // The poll reads o1 again, appends it, fails to save its state; EventBridge polls again.
    await runner.runSchedules();
    await runner.drain();
    expect(refusals.refuse).toBe(0);
    expect(runner.ruleErrors().join('\n')).toMatch(/SlowDown|reduce your request rate/);
    expect(runner.task('persister:faults/sku-sums').metrics.DocsIn).toBe(3 * o1.length);
    expect(await view(runner)).toEqual(oracle(captured));
    const state = async () =>
      (
        await runner.admin.s3.send(
          new GetObjectCommand({ Bucket: capture.fn.environment.SLUICE_BUCKET, Key: refusals.key }),
        )
      ).Body?.transformToString();
    const saved = await state();
    expect(JSON.parse(saved ?? '{}')).toMatchObject({ done: { '': ['incoming/o1.jsonl'] } });

    // o2 has a malformed second line: its event fails each attempt and is dead-lettered.
    const errorsBefore = capture.stats.errors;
    await put(
      'incoming/o2.jsonl',
      `${JSON.stringify({ sku: 'c', qty: 10 })}\n{"sku": "c", "qty":\n${JSON.stringify({ sku: 'a', qty: 100 })}`,
    );
    const queues = join(dataDir, 'queues');
    const dead = () =>
      readdirSync(queues)
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => readFileSync(join(queues, f), 'utf8').split('\n').filter(Boolean));
    await until('o2 dead-lettered', () => existsSync(queues) && dead().length === 1);
    expect(capture.stats.errors - errorsBefore).toBe(3);
    expect(dead()[0]).toMatch(/o2\.jsonl/);
    expect(dead()[0]).toMatch(/o2\.jsonl:2/);
    // The poll halts at it, every time: nothing appended, the state unchanged.
    for (let i = 0; i < 2; i++) {
      await runner.runSchedules();
      await runner.drain();
      expect(runner.ruleErrors().join('\n')).toMatch(/o2\.jsonl:2/);
    }
    expect(await view(runner)).toEqual(oracle(captured));
    expect(await state()).toBe(saved);

    // Fixed (overwritten): its event brings it; the next poll reads it too, counted once.
    const o2 = [
      { sku: 'c', qty: 10 },
      { sku: 'c', qty: 20 },
      { sku: 'a', qty: 100 },
    ];
    await put('incoming/o2.jsonl', jsonl(o2));
    captured.push(...o2);
    await until('fixed o2 captured', async () => {
      await runner.drain();
      return JSON.stringify(await view(runner)) === JSON.stringify(oracle(captured));
    });
    await runner.runSchedules();
    await runner.drain();
    expect(await view(runner)).toEqual(oracle(captured));
    expect(JSON.parse((await state()) ?? '{}')).toMatchObject({
      done: { '': ['incoming/o1.jsonl', 'incoming/o2.jsonl'] },
    });
    expect(runner.denied).toEqual([]);
  });
});

describe('source-s3 under park (`-c onFailure={"capture:…":"park"}`)', () => {
  it('parks the malformed line and the refused document alone, appends the rest; redrive after the fix appends once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-faults-s3park-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    // The fixture with qty at most 100, until the fix widens it.
    const base = readFileSync(FIXTURE, 'utf8');
    const strict = base.replace('qty: { type: integer,', 'qty: { type: integer, maximum: 100,');
    expect(strict).not.toBe(base);
    const catalogPath = join(dir, 'flow.yaml');
    writeFileSync(catalogPath, strict);
    const context = { onFailure: { 'capture:faults/from-s3': 'park' } };
    const runner = await startAssembly(catalogPath, { dataDir: join(dir, 'data'), context });
    cleanup.push(() => runner.stop());
    const drop = new S3BlobStore({ client: runner.admin.s3, bucket: 'faults-drop' });
    await drop.ensureBucket();
    const capture = runner.task('capture:faults/from-s3').fn;
    const lines = [
      { sku: 'a', qty: 1 },
      '{"sku": "b", "qty":',
      { sku: 'b', qty: 2 },
      { sku: 'c', qty: 1000 },
      { sku: 'a', qty: 3 },
    ];
    await runner.admin.s3.send(
      new PutObjectCommand({
        Bucket: 'faults-drop',
        Key: 'incoming/p1.jsonl',
        Body: lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'),
      }),
    );
    const lot = runner.parkingLot('capture:faults/from-s3');
    await until('p1 captured and its two records parked', async () => {
      await runner.drain();
      return (await lot.list()).length === 2 && JSON.stringify(await view(runner)) === '{"a":4,"b":2}';
    });
    // The event succeeded: no retry, nothing dead-lettered.
    expect(capture.stats.errors).toBe(0);
    const queues = join(dir, 'data', 'queues');
    const deadLetters = existsSync(queues)
      ? readdirSync(queues).filter(
          (f) => f.endsWith('.jsonl') && readFileSync(join(queues, f), 'utf8').trim(),
        )
      : [];
    expect(deadLetters).toEqual([]);
    const parked = (await lot.list()).map((p) => p.parked);
    expect(parked.map((p) => [p.capture?.unread ?? 'document', p.position]).sort()).toEqual([
      ['document', '000000000003'],
      ['record', '000000000001'],
    ]);
    expect(parked.find((p) => p.capture?.unread)?.error).toMatch(/incoming\/p1\.jsonl:2: invalid JSON/);
    expect(parked.find((p) => !p.capture?.unread)?.doc).toMatchObject({ sku: 'c', qty: 1000 });
    expect(runner.task('capture:faults/from-s3').metrics).toMatchObject({
      DocsIn: 5,
      DocsOut: 3,
      DocsParked: 2,
    });

    // Still refused: the redrive keeps both, each with a failed attempt.
    expect(await runner.redrive('capture:faults/from-s3')).toMatchObject({ redriven: 0, remaining: 2 });

    // The fix, deployed. The scheduled poll then reads p1 for the first time (it does not know what
    // events brought): the refused document passes now, but it is the parking lot's — appended by the
    // redrive alone, once — and the malformed line is parked already: nothing counted, nothing parked twice.
    writeFileSync(catalogPath, base);
    const fixed = await assemblyOf(catalogPath, context);
    expect((await runner.reload(fixed)).applied).toBe(true);
    await runner.runSchedules();
    await runner.drain();
    expect(await view(runner)).toEqual({ a: 4, b: 2 });
    expect(await lot.list()).toHaveLength(2);
    const result = await runner.redrive('capture:faults/from-s3');
    expect(result, JSON.stringify(result)).toMatchObject({ redriven: 1, remaining: 1 });
    expect(result.failures[0]?.error).toMatch(/p1\.jsonl:2: invalid JSON/);
    expect(result.failures[0]?.where).toBe('incoming/p1.jsonl record 1');
    await until('the redriven document counted', async () => {
      await runner.drain();
      return JSON.stringify(await view(runner)) === '{"a":4,"b":2,"c":1000}';
    });
    // p1's event delivered again after the redrive: its tombstone keeps the document from a second count.
    await runner.task('capture:faults/from-s3').fn.invoke({
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { bucket: { name: 'faults-drop' }, object: { key: 'incoming/p1.jsonl' } },
    });
    await runner.drain();
    expect(await view(runner)).toEqual({ a: 4, b: 2, c: 1000 });
    expect(runner.denied).toEqual([]);
  });
});
