/**
 * Parity of processing order: a collection keyed `[/device, /ts]` read by derivations that shuffle on
 * `[/device]`. Estuary derives each shuffle key's documents in the order they were published; deployed,
 * each shard of the journal is read on its own, so the readings of one device must share a shard
 * (catalog/routing.ts). Before, they were routed by the whole key and spread over the stream's shards:
 * the SQLite derivation paired readings with the wrong predecessors and the TypeScript one kept a
 * reading other than the last, where `sluice test` (the offline engine) gave the published order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type EngineSession, TestRunner } from '../../shared/testing/runner.ts';
import { startAssembly } from '../support/assembly.ts';
import { bare, ingestBoth, view } from './parity-fixture.ts';

const CATALOG = fileURLToPath(new URL('../fixtures/parity/readings/flow.yaml', import.meta.url));

/** `n` readings a minute apart for each device, starting at minute `from`. */
function readings(devices: string[], from: number, n: number): JsonObject[] {
  return devices.flatMap((device, d) =>
    Array.from({ length: n }, (_, i) => ({
      device,
      ts: new Date(Date.UTC(2026, 0, 1, 0, from + i)).toISOString(),
      value: (d + 1) * 100 + from + i,
    })),
  );
}

describe('parity: per-shuffle-key order, offline engine vs the deployed assembly', () => {
  let runner: AssemblyRunner;
  let offline: EngineSession;
  let dataDir: string;

  beforeAll(async () => {
    const r = await loadCatalog(CATALOG);
    if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
    expect(r.catalog.collections['parity/readings'].routingKey).toEqual(['/device']);
    dataDir = mkdtempSync(join(tmpdir(), 'sluice-parity-readings-'));
    // Four shards a stream, as AWS starts an on-demand stream with.
    runner = await startAssembly(r.catalog, { dataDir, shards: 4 });
    offline = await (await TestRunner.create(r.catalog, new SchemaRegistry(r.catalog.schemas))).session();
    const devices = ['d1', 'd2', 'd3'];
    expect(r.catalog.collections['parity/pings'].routingKey).toEqual([]);
    // Two transactions: twelve readings of each device, then six more; and pings, whose ids sort in
    // another order than their sequence numbers (so the journal's order is the publish order, not the key's).
    const pings = Array.from({ length: 30 }, (_, i) => ({
      id: `p${String((i * 7) % 30).padStart(2, '0')}`,
      device: devices[i % 3],
      seq: i,
    }));
    await ingestBoth({ offline, runner }, [
      { collection: 'parity/readings', docs: readings(devices, 0, 12) },
      { collection: 'parity/readings', docs: readings(devices, 12, 6) },
      { collection: 'parity/pings', docs: pings.slice(0, 15) },
      { collection: 'parity/pings', docs: pings.slice(15) },
    ]);
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('SQLite: each reading is paired with the reading published before it from its device', async () => {
    const want = (await offline.read('parity/steps')).docs.map(bare);
    expect(want).toHaveLength(54);
    expect(want.filter((d) => d.device === 'd2').slice(0, 3)).toEqual([
      { device: 'd2', ts: '2026-01-01T00:00:00.000Z', prev: null },
      { device: 'd2', ts: '2026-01-01T00:01:00.000Z', prev: '2026-01-01T00:00:00.000Z' },
      { device: 'd2', ts: '2026-01-01T00:02:00.000Z', prev: '2026-01-01T00:01:00.000Z' },
    ]);
    expect(await view(runner, 'parity/steps')).toEqual(want);
  });

  it('SQLite, shuffled on a location outside the key: one shard, so each ping follows its device’s previous', async () => {
    const want = (await offline.read('parity/ping-steps')).docs.map(bare);
    expect(want).toHaveLength(30);
    expect(want.filter((d) => d.prev !== null).length).toBe(27);
    expect(await view(runner, 'parity/ping-steps')).toEqual(want);
  });

  it('TypeScript: the last reading published wins', async () => {
    const want = (await offline.read('parity/latest')).docs.map(bare);
    expect(want).toEqual(
      ['d1', 'd2', 'd3'].map((device, d) => ({
        device,
        count: 18,
        last: { ts: '2026-01-01T00:17:00.000Z', value: (d + 1) * 100 + 17 },
      })),
    );
    expect(await view(runner, 'parity/latest')).toEqual(want);
  });
});
