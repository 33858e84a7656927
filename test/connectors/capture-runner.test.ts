import { describe, expect, it } from 'vitest';
import { MemoryBlobStore, MemoryJournal } from '../../shared/adapters/memory.ts';
import { captureStateKey, runPollingCapture } from '../../shared/connectors/capture-runner.ts';
import { EndpointError } from '../../shared/connectors/errors.ts';
import { createPollingSource } from '../../shared/connectors/index.ts';
import { unpackFrameEntries } from '../../shared/ports/framing.ts';
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
    expect(await runPollingCapture(source, opts)).toEqual({ docs: 2, rounds: 1 });
    const shard = (await journal.listShards('acme/orders'))[0]?.shardId as string;
    const read = await journal.read('acme/orders', shard, undefined, 100);
    const docs = read.records.flatMap((r) =>
      unpackFrameEntries(Buffer.from(r.data)).map((e) => JSON.parse(e.bytes.toString())),
    );
    expect(docs.map((d) => [d.id, d._meta.file, d._meta.offset, typeof d._meta.uuid])).toEqual([
      [1, 'in/a.jsonl', 0, 'string'],
      [2, 'in/a.jsonl', 1, 'string'],
    ]);
    expect(JSON.parse(String(await stateStore.get(captureStateKey('acme/files'))))).toEqual({
      done: { '': ['in/a.jsonl'] },
    });
    // nothing new: nothing appended
    expect((await runPollingCapture(source, opts)).docs).toBe(0);
    // a document violating the collection schema stops the capture, state not advanced
    await landing.put('in/b.jsonl', Buffer.from('{"id":"x","qty":1}\n'));
    const err = (await runPollingCapture(source, opts).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.code).toBe('SchemaViolation');
    expect(JSON.parse(String(await stateStore.get(captureStateKey('acme/files'))))).toEqual({
      done: { '': ['in/a.jsonl'] },
    });
  });
});
