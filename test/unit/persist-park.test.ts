/**
 * The persister under `park` when a parked document's batch is delivered again: the view refuses the
 * document (DynamoDB's ValidationException, a document error), it is parked, then the isolated attempt of
 * the next document is throttled (an outage: the invocation fails after the park), and a fix is deployed
 * before the mapping delivers the batch again. The retry must leave the parked document to its redrive,
 * which folds it once. The wiring is functions/persist.ts's own (createPersistTask), on in-memory parts;
 * the store's refusals are injected, as no emulator refuses one key on demand.
 */
import { describe, expect, it } from 'vitest';
import { createPersistTask } from '../../functions/persist.ts';
import { kinesisEntry } from '../../functions/telemetry.ts';
import { MemoryBlobStore, MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { parseEnv } from '../../shared/config/env.ts';
import type { Runtime } from '../../shared/config/runtime.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import { recordsToEvent } from '../../shared/ports/events.ts';
import type { StateWrite } from '../../shared/ports/state.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { catalogWith } from '../connectors/fixtures.ts';
import { quietly } from '../support/quiet.ts';

const ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/acme-orders';

describe('persister: a parked document and its batch delivered again', () => {
  it('the retry after an outage skips the parked document; its redrive folds it once', async () => {
    const catalog = catalogWith({});
    const state = new MemoryStateStore();
    const bucket = new MemoryBlobStore();
    const idOf = (w: StateWrite) => (w.doc as { id?: number } | undefined)?.id;
    let broken = true; // the view refuses order 3 until the fix
    let outage = true; // the store throttles order 4's write, once, after 3 was parked
    const write = state.write.bind(state);
    state.write = async (collection, writes) => {
      if (broken && writes.some((w) => idOf(w) === 3))
        throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
          name: 'ValidationException',
        });
      if (outage && writes.length === 1 && idOf(writes[0]) === 4) {
        outage = false;
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      }
      return write(collection, writes);
    };
    const rt = {
      env: parseEnv({ SLUICE_BUCKET: 'b', SLUICE_PARKED: 's3://b/_sluice/parked/persister:acme/orders/' }),
      catalog,
      registry: new SchemaRegistry(catalog.schemas),
      state,
      blobs: () => bucket,
      collectionOfArn: () => 'acme/orders',
    } as unknown as Runtime;
    const handler = kinesisEntry(() => createPersistTask(rt, 'acme/orders'));
    const journal = new MemoryJournal();
    journal.ensure('acme/orders');
    await journal.append(
      'acme/orders',
      [1, 2, 3, 4, 5].map((id) => ({ hashKey: explicitHashKey(packKey([id])), doc: { id, qty: id * 10 } })),
    );
    const event = recordsToEvent(journal.allRecords('acme/orders'), ARN);
    await quietly(async () => {
      // The batch fails on 3; 3 is parked; 4's isolated write is throttled: the invocation fails.
      await expect(handler(event)).rejects.toThrow(/Rate exceeded/);
      // The fix is deployed before the mapping delivers the batch again.
      broken = false;
      await handler(event);
      expect(await handler({ sluiceRedrive: {} })).toMatchObject({ redriven: 1, remaining: 0 });
    });
    const view: Record<number, number> = {};
    for await (const it of state.scan('acme/orders')) {
      const d = it.doc as { id: number; qty: number };
      view[d.id] = d.qty;
    }
    // Each order once; 3 by its redrive (before: folded by the retry and again by the redrive, 60).
    expect(view).toEqual({ 1: 10, 2: 20, 3: 30, 4: 40, 5: 50 });
  });
});
