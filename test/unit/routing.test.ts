/**
 * Routing keys (catalog/routing.ts): a collection read by a transform that shuffles on part of its key is
 * routed by that part, so each shuffle key keeps its publish order on one shard; and every writer of
 * the journal routes by it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { keyExtractor } from '../../shared/keys/extract.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { routerOf } from '../../shared/keys/route.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-routing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCHEMA = {
  type: 'object',
  properties: { device: { type: 'string' }, ts: { type: 'string' }, site: { type: 'string' } },
  required: ['device', 'ts', 'site'],
};

/** A catalog of `acme/readings` (key [/device, /ts]) and one SQLite derivation per shuffle given. */
async function load(shuffles: (string[] | 'any')[], disable: boolean[] = []) {
  const collections: Record<string, unknown> = {
    'acme/readings': { key: ['/device', '/ts'], schema: SCHEMA },
  };
  shuffles.forEach((s, i) => {
    collections[`acme/derived${i}`] = {
      key: ['/device', '/ts'],
      schema: SCHEMA,
      derive: {
        using: { sqlite: {} },
        transforms: [
          {
            name: 'fromReadings',
            source: 'acme/readings',
            shuffle: s === 'any' ? 'any' : { key: s },
            lambda: 'SELECT $device AS device, $ts AS ts, $site AS site;',
            ...(disable[i] ? { disable: true } : {}),
          },
        ],
      },
    };
  });
  const file = join(dir, `flow-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({ collections }));
  const r = await loadCatalog(file);
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  return { catalog: r.catalog as BuiltCatalog, diagnostics: r.diagnostics };
}

describe('routing keys', () => {
  it('a shuffle key covering the collection key leaves the routing alone (in any order, or wider)', async () => {
    for (const s of [['/device', '/ts'], ['/ts', '/device'], ['/device', '/ts', '/site'], 'any'] as const) {
      const { catalog, diagnostics } = await load([s as string[] | 'any']);
      expect(catalog.collections['acme/readings'].routingKey, JSON.stringify(s)).toBeUndefined();
      expect(diagnostics).toEqual([]);
    }
  });

  it('a coarser shuffle key narrows it to the locations every reader shares, in key order', async () => {
    expect((await load([['/device']])).catalog.collections['acme/readings'].routingKey).toEqual(['/device']);
    expect(
      (await load([['/site', '/device'], ['/device', '/ts'], 'any'])).catalog.collections['acme/readings']
        .routingKey,
    ).toEqual(['/device']);
    // A disabled transform reads nothing.
    expect(
      (await load([['/device'], ['/site']], [false, true])).catalog.collections['acme/readings'].routingKey,
    ).toEqual(['/device']);
    // A derived collection's own routing is its own key: nothing reads it here.
    expect((await load([['/device']])).catalog.collections['acme/derived0'].routingKey).toBeUndefined();
  });

  it('no shared location: one shard, and a warning at the shuffle key that says so', async () => {
    const { catalog, diagnostics } = await load([['/device'], ['/site']]);
    // Only the reader whose shuffle key shares nothing is blamed.
    expect(catalog.collections['acme/readings'].routingKey).toEqual([]);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ severity: 'warning', code: 'ShuffleOneShard' });
    expect(diagnostics[0].message).toContain(
      'shuffle key [/site] shares no location with the key [/device, /ts]',
    );
    expect(diagnostics[0].message).toContain('one shard');
    expect(diagnostics[0].pointer).toBe('/collections/acme~1derived1/derive/transforms/0/shuffle/key');
    // Each shares a location, but not the same one: both are named.
    const both = await load([['/device'], ['/ts']]);
    expect(both.catalog.collections['acme/readings'].routingKey).toEqual([]);
    expect(both.diagnostics.map((d) => d.pointer)).toEqual([
      '/collections/acme~1derived0/derive/transforms/0/shuffle/key',
      '/collections/acme~1derived1/derive/transforms/0/shuffle/key',
    ]);
    expect(both.diagnostics[0].message).toContain(
      'the shuffle keys reading `acme/readings` ([/device], [/ts]) share no location of its key [/device, /ts] between them',
    );
  });

  it('a stateless derivation narrows it only while a location is left (else it is read in order per shard)', async () => {
    const module = join(dir, 'latest.ts');
    writeFileSync(
      module,
      [
        "import { IDerivation, type Document, type SourceFromReadings } from 'flow/acme/latest.ts';",
        'export class Derivation extends IDerivation {',
        '  fromReadings(read: { doc: SourceFromReadings }): Document[] {',
        '    return [{ site: read.doc.site, device: read.doc.device }];',
        '  }',
        '}',
      ].join('\n'),
    );
    const file = join(dir, 'stateless.flow.yaml');
    const latest = (shuffle: string[]) => ({
      key: ['/site'],
      schema: {
        type: 'object',
        properties: { site: { type: 'string' }, device: { type: 'string' } },
        required: ['site'],
      },
      derive: {
        using: { typescript: { module: 'latest.ts' } },
        transforms: [{ name: 'fromReadings', source: 'acme/readings', shuffle: { key: shuffle } }],
      },
    });
    for (const [shuffle, want] of [
      [['/site'], undefined],
      [['/device'], ['/device']],
    ] as const) {
      writeFileSync(
        file,
        stringify({
          collections: {
            'acme/readings': { key: ['/device', '/ts'], schema: SCHEMA },
            'acme/latest': latest([...shuffle]),
          },
        }),
      );
      const r = await loadCatalog(file);
      expect(r.diagnostics.filter((d) => d.severity !== 'warning' || d.code === 'ShuffleOneShard')).toEqual(
        [],
      );
      expect(r.catalog!.collections['acme/latest'].derive?.stateful ?? false).toBe(false);
      expect(r.catalog!.collections['acme/readings'].routingKey, shuffle.join()).toEqual(want);
    }
  }, 60_000);

  it('writers route by it: one device, one hash key; unnarrowed, the whole key as before', async () => {
    const narrowed = routerOf((await load([['/device']])).catalog.collections['acme/readings']);
    const a = { device: 'd1', ts: '1', site: 'n' };
    const b = { device: 'd1', ts: '2', site: 's' };
    expect(narrowed(a)).toBe(narrowed(b));
    expect(narrowed(a)).toBe(explicitHashKey(Buffer.from(keyExtractor(['/device']).packBinary(a), 'latin1')));
    const whole = routerOf((await load(['any'])).catalog.collections['acme/readings']);
    expect(whole(a)).not.toBe(whole(b));
    expect(whole(a)).toBe(
      explicitHashKey(Buffer.from(keyExtractor(['/device', '/ts']).packBinary(a), 'latin1')),
    );
  });
});
