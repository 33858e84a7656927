import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { Combiner } from '../../shared/combine/combiner.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { uuidTime } from '../../shared/meta/uuid.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import type { EngineSession } from '../../shared/testing/runner.ts';
import { STEPS } from '../fixtures/parity/inventory/steps.ts';
import { bare, ingestBoth, type ParityFixture, startBoth, startParity, view } from './parity-fixture.ts';

const CATALOG = fileURLToPath(new URL('../fixtures/parity/inventory/flow.yaml', import.meta.url));

let fx: ParityFixture | undefined;
let db: pg.Client;
let catalog: BuiltCatalog;
let dataDir: string;

beforeAll(async () => {
  fx = await startParity(CATALOG, 'parity');
  ({ db, catalog, dataDir } = fx);
});
afterAll(async () => {
  await fx?.stop();
});

function byKey(docs: JsonObject[], key: (d: JsonObject) => string): Record<string, JsonObject> {
  return Object.fromEntries(docs.map((d) => [key(d), d]));
}

describe('parity: offline engine vs the deployed assembly (inventory)', () => {
  let runner: AssemblyRunner;
  let offline: EngineSession;
  /** Per item key, the partially combined document of the last transaction that had it (delta updates). */
  const lastDelta = new Map<string, JsonObject>();

  beforeAll(async () => {
    const registry = new SchemaRegistry(catalog.schemas);
    ({ offline, runner } = await startBoth(catalog, dataDir));
    await ingestBoth({ offline, runner }, STEPS, async (step) => {
      if (step.collection !== 'parity/items') return;
      const c = new Combiner({ registry, collection: catalog.collections['parity/items'], validate: false });
      for (const d of step.docs) c.add(d);
      for await (const e of c.drain(false)) lastDelta.set((e.doc as JsonObject).sku as string, bare(e.doc));
    });
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
  });

  it('collections: the reduced views equal the offline engine', async () => {
    for (const collection of ['parity/items', 'parity/moves', 'parity/stock']) {
      const want = (await offline.read(collection)).docs.map(bare);
      expect(await view(runner, collection), collection).toEqual(want);
    }
    // The transform bounded by notAfter (2025) read nothing, offline and deployed.
    for (const d of (await offline.read('parity/stock')).docs) expect(d).not.toHaveProperty('archived');
    for (const d of await view(runner, 'parity/stock')) expect(d).not.toHaveProperty('archived');
  });

  it('PostgreSQL, soft deletes, field selection: items_soft and stock', async () => {
    const items = await offline.read('parity/items');
    const rows = (await db.query('SELECT * FROM public.items_soft ORDER BY sku')).rows as JsonObject[];
    const op = (r: JsonObject) => ((r.flow_document as JsonObject)._meta as JsonObject | undefined)?.op;
    const live = rows.filter((r) => op(r) !== 'd');
    const gone = rows.filter((r) => op(r) === 'd').map((r) => r.sku);
    expect(live.map((r) => bare(r.flow_document))).toEqual(items.docs.map(bare));
    expect(gone).toEqual(items.deleted.map((d) => (d as JsonObject).sku));
    expect(gone).toEqual(['e5']);
    // A soft-deleted row holds the deletion document (Estuary: key and `_meta` only), other columns null.
    const e5 = rows.find((r) => r.sku === 'e5')!;
    expect([bare(e5.flow_document), e5.qty, e5.item_name]).toEqual([
      { sku: 'e5', warehouse: 'south' },
      null,
      null,
    ]);
    // Recommended fields (projections by their names), less those excluded.
    expect(Object.keys(rows[0]).sort()).toEqual(
      [
        'sku',
        'warehouse',
        'item_name',
        'qty',
        'worth',
        'cheapest',
        'peak',
        'flow_published_at',
        'flow_document',
      ].sort(),
    );
    // flow_published_at: the publish time of the document's `_meta/uuid`.
    for (const r of rows) {
      const uuid = ((r.flow_document as JsonObject)._meta as JsonObject).uuid as string;
      expect((r.flow_published_at as unknown as Date).getTime(), r.sku as string).toBe(uuidTime(uuid));
    }
    for (const r of live) {
      const d = r.flow_document as JsonObject;
      expect([r.item_name ?? undefined, r.qty === null ? undefined : Number(r.qty)]).toEqual([d.name, d.qty]);
    }
    const stock = (await db.query('SELECT flow_document FROM public.stock ORDER BY sku')).rows;
    expect(stock.map((r) => bare(r.flow_document))).toEqual(
      (await offline.read('parity/stock')).docs.map(bare),
    );
  });

  it('PostgreSQL, hard deletes, a partition-filtered binding and a delta-updates binding', async () => {
    const want = await offline.read('parity/items', { include: { warehouse: ['north', 'south'] } });
    const rows = (await db.query('SELECT * FROM public.items_hard ORDER BY sku')).rows;
    expect(rows.map((r) => bare(r.flow_document))).toEqual(want.docs.map(bare));
    // recommended: false: the key, the partition field (always selected, as in Estuary; the projection
    // item_name is not), what is included, and the document.
    expect(Object.keys(rows[0]).sort()).toEqual(['sku', 'warehouse', 'qty', 'flow_document'].sort());

    const log = (await db.query('SELECT * FROM public.moves_log ORDER BY id')).rows as JsonObject[];
    // recommended: false: the key, the partition fields site and kind, what is included, the document.
    expect(Object.keys(log[0]).sort()).toEqual(['id', 'sku', 'qty', 'kind', 'site', 'flow_document'].sort());
    const moves = (await offline.read('parity/moves')).docs.map(bare);
    expect(
      log
        .map((r) => ({ id: r.id, sku: r.sku, qty: Number(r.qty), kind: r.kind }))
        .sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1)),
    ).toEqual(moves.map((m) => ({ id: m.id, sku: m.sku, qty: m.qty, kind: m.kind })));
    // A binding bounded by notAfter (2025) materializes nothing.
    expect((await db.query('SELECT count(*)::int AS n FROM public.moves_archive')).rows).toEqual([{ n: 0 }]);
  });

  it('DynamoDB: field selection of a standard binding, and a delta-updates binding', async () => {
    const conn = new DynamoDbConnector({
      spec: catalog.materializations['parity/to-dynamo'],
      catalog,
      client: runner.admin.dynamodb,
    });
    const stock = await conn.items(0);
    const want = (await offline.read('parity/stock')).docs.map(bare);
    const got = byKey(stock, (i) => i.sku as string);
    expect(Object.keys(got).sort()).toEqual(want.map((d) => d.sku as string));
    for (const d of want) {
      const i = got[d.sku as string];
      expect(bare(i.flow_document), d.sku as string).toEqual(d);
      // recommended: false, include on_hand and name: the key, those fields and the document.
      const attrs = Object.keys(i).filter((k) => !k.startsWith('_sluice'));
      expect(attrs.sort()).toEqual(
        ['sku', 'flow_document', ...['on_hand', 'name'].filter((f) => f in d)].sort(),
      );
    }

    // A standard binding of items deleted and created again (hard deletes: DynamoDB items are deleted).
    const items = await conn.items(2);
    expect(items.map((i) => bare(i.flow_document)).sort((a, b) => (a.sku! < b.sku! ? -1 : 1))).toEqual(
      (await offline.read('parity/items')).docs.map(bare),
    );

    const deltas = await conn.items(1);
    expect(Object.fromEntries(deltas.map((i) => [i.sku as string, bare(i.flow_document)]))).toEqual(
      Object.fromEntries(lastDelta),
    );
  });
});
