import { describe, expect, it } from 'vitest';
import { retryingInit } from '../../functions/telemetry.ts';
import { MemoryBlobStore, MemoryJournal } from '../../shared/adapters/memory.ts';
import { redriveCapture } from '../../shared/connectors/capture-parking.ts';
import { captureStateKey, runPollingCapture } from '../../shared/connectors/capture-runner.ts';
import { EndpointError } from '../../shared/connectors/errors.ts';
import { createPollingSource } from '../../shared/connectors/index.ts';
import { unpackFrameEntries } from '../../shared/ports/framing.ts';
import { ParkingLot, parkedInfo } from '../../shared/ports/parking.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { capture, catalogWith } from './fixtures.ts';

describe('polling capture runner (source-s3 over a BlobStore)', () => {
  it('appends validated documents with _meta/uuid, saves state, and stops on a schema violation', async () => {
    const landing = new MemoryBlobStore();
    const stateStore = new MemoryBlobStore();
    await landing.put('in/a.jsonl', Buffer.from('{"id":1,"qty":2}\n{"id":2,"qty":3}\n'));
    const catalog = catalogWith({});
    const spec = capture(
      'acme/files',
      'source-s3',
      { bucket: 'landing', prefix: 'in/', parser: { format: { type: 'jsonl' } } },
      [{ stream: '' }],
    );
    if (spec.bindings[0]) spec.bindings[0].target = 'acme/orders';
    const journal = new MemoryJournal();
    journal.ensure('acme/orders');
    const opts = {
      spec,
      catalog,
      registry: new SchemaRegistry(catalog.schemas),
      journal,
      stateStore,
      now: () => 1_700_000_000_000,
    };
    const source = await createPollingSource(spec, { blobs: () => landing });
    expect(await runPollingCapture(source, opts)).toEqual({ docs: 2, parked: 0, rounds: 1 });
    const shard = (await journal.listShards('acme/orders'))[0]?.shardId as string;
    const read = await journal.read('acme/orders', shard, undefined, 100);
    const docs = read.records.flatMap((r) =>
      unpackFrameEntries(Buffer.from(r.data)).map((e) => JSON.parse(e.bytes.toString())),
    );
    expect(docs.map((d) => [d.id, d._meta.file, d._meta.offset, typeof d._meta.uuid])).toEqual([
      [1, 'landing/in/a.jsonl', 0, 'string'],
      [2, 'landing/in/a.jsonl', 1, 'string'],
    ]);
    expect(JSON.parse(String(await stateStore.get(captureStateKey('acme/files'))))).toEqual({
      done: { '': ['in/a.jsonl'] },
      since: { '': expect.any(Number) },
      seen: { '': { 'in/a.jsonl': expect.any(Number) } },
    });
    // nothing new: nothing appended
    expect((await runPollingCapture(source, opts)).docs).toBe(0);
    // a document violating the collection schema stops the capture, state not advanced
    await landing.put('in/b.jsonl', Buffer.from('{"id":"x","qty":1}\n'));
    const err = (await runPollingCapture(source, opts).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.code).toBe('SchemaViolation');
    // The error (and so the log) names the pointer and the rule, never the document's values.
    expect(err.message).toContain('/id: must be');
    expect(err.message).not.toContain('"x"');
    expect(err.message).not.toContain('qty');
    expect(JSON.parse(String(await stateStore.get(captureStateKey('acme/files'))))).toEqual({
      done: { '': ['in/a.jsonl'] },
      since: { '': expect.any(Number) },
      seen: { '': { 'in/a.jsonl': expect.any(Number) } },
    });
  });

  it('stops starting rounds at the deadline, with the state of every finished round saved', async () => {
    const catalog = catalogWith({});
    const spec = capture('acme/endless', 'source-s3', { bucket: 'b' }, [{ stream: '' }]);
    if (spec.bindings[0]) spec.bindings[0].target = 'acme/orders';
    const journal = new MemoryJournal();
    journal.ensure('acme/orders');
    const stateStore = new MemoryBlobStore();
    let polls = 0;
    // A source that always has more: without a deadline the runner stops at maxRounds.
    const source = {
      poll: async () => {
        polls++;
        return { docs: [{ binding: 0, doc: { id: polls, qty: 1 } }], state: { polls }, more: true };
      },
      close: async () => {},
    };
    const opts = { spec, catalog, registry: new SchemaRegistry(catalog.schemas), journal, stateStore };
    expect(await runPollingCapture(source, { ...opts, maxRounds: 5 })).toEqual({
      docs: 5,
      parked: 0,
      rounds: 5,
    });
    expect(await runPollingCapture(source, { ...opts, deadlineMs: Date.now() - 1 })).toEqual({
      docs: 1,
      parked: 0,
      rounds: 1,
    });
    expect(JSON.parse(String(await stateStore.get(captureStateKey('acme/endless'))))).toEqual({ polls: 6 });
  });
});

describe('a polling capture under park (a table source: rows with and without an origin)', () => {
  it('parks the refused row on its own and saves the cursor; redrive appends it once fixed; no origin: named by content', async () => {
    const catalog = catalogWith({});
    const spec = capture('acme/rows', 'source-postgres-batch', {}, [{ name: 'orders' }]);
    if (spec.bindings[0]) spec.bindings[0].target = 'acme/orders';
    const journal = new MemoryJournal();
    journal.ensure('acme/orders');
    const stateStore = new MemoryBlobStore();
    const lot = new ParkingLot(
      new MemoryBlobStore(),
      '_sluice/parked/capture:acme/rows/',
      'capture:acme/rows',
    );
    const origin = (n: number) => ({ source: 'orders', position: `p${n}`, ms: 1_700_000_000_000 });
    // Two rows refused (qty not an integer): one with an origin, one from a table without a primary key.
    const rows = [
      { binding: 0, doc: { id: 1, qty: 2 }, origin: origin(1) },
      { binding: 0, doc: { id: 2, qty: 'three' }, origin: origin(2) },
      { binding: 0, doc: { id: 3, qty: 'four' } },
      { binding: 0, doc: { id: 4, qty: 5 }, origin: origin(4) },
    ];
    let polled = 0;
    const source = {
      poll: async () => ({ docs: polled++ === 0 ? rows : [], state: { cursor: 'p4' }, more: false }),
      close: async () => {},
    };
    const opts = { spec, catalog, registry: new SchemaRegistry(catalog.schemas), journal, stateStore };
    // Halt: the poll fails, its cursor is not saved.
    await expect(runPollingCapture(source, opts)).rejects.toBeInstanceOf(EndpointError);
    expect(await stateStore.get(captureStateKey('acme/rows'))).toBeUndefined();
    polled = 0;
    expect(await runPollingCapture(source, { ...opts, parking: lot })).toEqual({
      docs: 2,
      parked: 2,
      rounds: 1,
    });
    expect(JSON.parse(String(await stateStore.get(captureStateKey('acme/rows'))))).toEqual({ cursor: 'p4' });
    const parked = await lot.list();
    expect(parked.map((x) => x.key.slice(lot.prefix.length).replace(/[0-9a-f]{16}/g, 'h')).sort()).toEqual([
      'acme/orders/obj-h/h.doc-h.json',
      'acme/orders/obj-h/h.p2.json',
    ]);
    expect(parked.map((x) => parkedInfo(x.key, x.parked).where).sort()).toEqual([
      'acme/rows/binding-0 at doc-' + parked.find((x) => !x.parked.hasOrigin)?.parked.position.slice(4),
      'acme/rows/orders at p2',
    ]);
    // Fixed (the rows corrected in the parked records stand for a widened schema here): appended once.
    for (const { parked: p } of parked) await lot.put({ ...p, doc: { ...(p.doc as object), qty: 1 } });
    expect(await redriveCapture({ ...opts, parking: lot }, lot, source)).toMatchObject({
      redriven: 2,
      remaining: 0,
    });
    const shard = (await journal.listShards('acme/orders'))[0]?.shardId ?? '';
    const read = await journal.read('acme/orders', shard, undefined, 100);
    const origins = read.records.flatMap((r) => unpackFrameEntries(r.data).map((e) => e.origin ?? '(none)'));
    expect(origins.sort()).toEqual([
      '(none)',
      'acme/rows/orders#redrive@p2',
      'acme/rows/orders@p1',
      'acme/rows/orders@p4',
    ]);
    expect(await lot.list()).toEqual([]);
  });
});

describe('retryingInit (functions/telemetry.ts)', () => {
  it('a failed init is retried by the next call instead of poisoning the container; callers share one attempt', async () => {
    let attempts = 0;
    const ready = retryingInit(async () => {
      attempts++;
      if (attempts === 1) throw new Error('secret throttled');
      return `ready after ${attempts}`;
    }, true);
    expect(attempts).toBe(0); // started on the next tick, not synchronously
    await expect(ready()).rejects.toThrow('secret throttled');
    const [a, b] = await Promise.all([ready(), ready()]);
    expect([a, b]).toEqual(['ready after 2', 'ready after 2']);
    expect(await ready()).toBe('ready after 2');
    expect(attempts).toBe(2);
  });
});
