/**
 * Field selection of materialization bindings (connectors/fields.ts) against Estuary's rules: with
 * `recommended: false` only the key, the partition fields and what is included are selected (a
 * user-defined projection that is not a partition is not); otherwise projections and top-level
 * properties too, less what is excluded.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { fieldValue, selectFields } from '../../shared/connectors/fields.ts';
import { metaUuid } from '../../shared/meta/uuid.ts';

const CATALOG = fileURLToPath(new URL('../fixtures/parity/inventory/flow.yaml', import.meta.url));
let catalog: BuiltCatalog;

beforeAll(async () => {
  process.env.PARITY_PG_PASSWORD ??= 'unused';
  const r = await loadCatalog(CATALOG);
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  catalog = r.catalog;
});

function selected(materialization: string, binding: number): string[] {
  const b = catalog.materializations[materialization].bindings[binding];
  return selectFields(catalog, catalog.collections[b.source.name], b).map((f) => f.name);
}

describe('selectFields', () => {
  it('recommended: false selects the key, partition fields and included fields, not other projections', () => {
    // parity/items: key sku, partition projection warehouse, projection item_name (/name).
    expect(selected('parity/to-pg-hard', 0)).toEqual(['sku', 'warehouse', 'qty']);
    // parity/moves: key id, partitions site and kind.
    expect(selected('parity/to-pg-hard', 1).sort()).toEqual(['id', 'kind', 'qty', 'site', 'sku']);
  });

  it('recommended: true selects projections by their names and top-level properties, less exclusions', () => {
    expect(selected('parity/to-pg-soft', 0).sort()).toEqual(
      ['sku', 'warehouse', 'item_name', 'qty', 'worth', 'cheapest', 'peak', 'flow_published_at'].sort(),
    );
  });

  it('flow_published_at is the publish time `/_meta/uuid` carries, a date-time', () => {
    const b = catalog.materializations['parity/to-pg-soft'].bindings[0];
    const f = selectFields(catalog, catalog.collections['parity/items'], b).find(
      (x) => x.name === 'flow_published_at',
    )!;
    expect([f.pointer, [...f.shape.types], f.shape.format]).toEqual(['/_meta/uuid', ['string'], 'date-time']);
    const uuid = metaUuid(Date.UTC(2026, 10, 30, 12, 0, 0, 250), 'p', 1);
    expect(fieldValue({ sku: 'a', _meta: { uuid } }, f)).toBe('2026-11-30T12:00:00.250Z');
  });
});
