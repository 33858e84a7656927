/**
 * The clickstream and fraud examples end to end through their synthesized assemblies (what `cdk deploy`
 * ships: functions in Lambda's sandbox under their roles): generated documents posted to the HTTP
 * ingest's Function URL → derivations → the DynamoDB materialization, compared with oracles computed
 * here from what was sent (not by Sluice's reducer). The catalogs are loaded unchanged from examples/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import type { Json } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { startAssembly } from '../support/assembly.ts';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}/flow.yaml`, import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(catalogPath: string): Promise<AssemblyRunner> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-example-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const runner = await startAssembly(catalogPath, { dataDir });
  cleanup.push(() => runner.stop());
  return runner;
}

/** POST documents in chunks (several requests, so several batches and shards are involved). */
async function ingest(runner: AssemblyRunner, path: string, docs: unknown[], chunk = 40): Promise<void> {
  for (let i = 0; i < docs.length; i += chunk) {
    const res = await fetch(`${runner.ingestUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(docs.slice(i, i + chunk)),
    });
    expect(res.status, await res.text()).toBe(200);
  }
}

/** Every materialized document of a binding, by its key. */
async function materialized(
  runner: AssemblyRunner,
  catalogPath: string,
  materialization: string,
  binding: number,
): Promise<Record<string, Json>[]> {
  const r = await loadCatalog(catalogPath);
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  const c = new DynamoDbConnector({
    spec: r.catalog.materializations[materialization],
    catalog: r.catalog,
    client: runner.admin.dynamodb,
  });
  return c.items(binding);
}

/** Deterministic pseudo-random numbers (the same run every time). */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('examples end to end through their assemblies', () => {
  it('clickstream: page events → user profiles → DynamoDB, equal to the profiles computed from what was sent', async () => {
    const path = example('clickstream');
    const runner = await start(path);
    const rand = rng(7);
    const types = ['view', 'click', 'purchase'] as const;
    const categories = ['books', 'home', 'kitchen', 'fashion'];
    const events = Array.from({ length: 240 }, (_, i) => {
      const type = types[Math.floor(rand() * 3)];
      const item = `item-${Math.floor(rand() * 9)}`;
      const e: Record<string, unknown> = {
        event_id: `e${i}`,
        user_id: `user-${Math.floor(rand() * 11)}`,
        type,
        item_id: item,
        ts: new Date(Date.UTC(2026, 10, 1, 10, 0, 0) + Math.floor(rand() * 86_400_000)).toISOString(),
      };
      if (rand() < 0.8) e.category = categories[Math.floor(rand() * categories.length)];
      if (type === 'purchase') e.price = Math.floor(rand() * 10_000) / 4; // exact in binary
      return e;
    });
    // An event delivered twice in one request is one event: the capture combines a transaction's
    // documents by key (event_id) before they reach the journal, as Estuary does. (Across requests it
    // would be two documents of the journal, and the derivation would count both, as in Estuary.)
    const sent = [
      ...events.slice(0, 4),
      events[3],
      ...events.slice(4, 100),
      events[81],
      ...events.slice(100),
    ];
    await ingest(runner, '/acmeCo/clickstream/ingest/events', sent);
    await runner.drain();

    const oracle = new Map<string, Record<string, unknown>>();
    for (const e of events) {
      const u = e.user_id as string;
      const p = oracle.get(u) ?? {
        user_id: u,
        views: 0,
        clicks: 0,
        purchases: 0,
        first_seen: e.ts,
        last_seen: e.ts,
      };
      p[`${e.type}s`] = (p[`${e.type}s`] as number) + 1;
      if (e.type === 'purchase') p.revenue = ((p.revenue as number | undefined) ?? 0) + (e.price as number);
      if ((e.ts as string) < (p.first_seen as string)) p.first_seen = e.ts;
      if ((e.ts as string) > (p.last_seen as string)) p.last_seen = e.ts;
      if (e.type === 'view') {
        const rv = (p.recently_viewed ?? {}) as Record<string, string>;
        const item = e.item_id as string;
        if (!rv[item] || (e.ts as string) > rv[item]) rv[item] = e.ts as string;
        p.recently_viewed = rv;
      }
      if (e.category !== undefined) {
        const add = ((p.categories as { add: Record<string, number> } | undefined)?.add ?? {}) as Record<
          string,
          number
        >;
        add[e.category as string] = (add[e.category as string] ?? 0) + 1;
        p.categories = { add };
      }
      oracle.set(u, p);
    }
    const items = await materialized(runner, path, 'acmeCo/clickstream/profiles-to-dynamodb', 0);
    const docs = Object.fromEntries(
      items.map((i) => {
        const d = structuredClone(i.flow_document) as Record<string, unknown>;
        delete d._meta;
        return [d.user_id as string, d];
      }),
    );
    expect(Object.keys(docs).sort()).toEqual([...oracle.keys()].sort());
    for (const [u, p] of oracle) expect(docs[u], u).toEqual(p);
    // The flat columns hold the document's top-level scalars.
    for (const i of items) expect(i.views).toBe(oracle.get(i.user_id as string)?.views);
  });

  it('fraud: transactions → hourly card velocity (exact decimal totals) and rule flags → DynamoDB, equal to the oracle', async () => {
    const path = example('fraud');
    const runner = await start(path);
    const rand = rng(11);
    const countries = ['US', 'FR', 'DE'];
    const channels = ['pos', 'online', 'atm'] as const;
    const txns = Array.from({ length: 200 }, (_, i) => {
      const cents = 1 + Math.floor(rand() * 150_000);
      return {
        txn_id: `t${i}`,
        card_id: `4000-${String(Math.floor(rand() * 8)).padStart(4, '0')}`,
        amount: cents / 100,
        currency: 'USD',
        merchant: `m${Math.floor(rand() * 5)}`,
        country: countries[Math.floor(rand() * 3)],
        home_country: 'US',
        channel: channels[Math.floor(rand() * 3)],
        ts: new Date(Date.UTC(2026, 10, 20, 12, 0, 0) + Math.floor(rand() * 4 * 3_600_000)).toISOString(),
        cents,
      };
    });
    await ingest(
      runner,
      '/acmeBank/fraud/ingest/transactions',
      txns.map(({ cents: _, ...t }) => t),
    );
    await runner.drain();

    const velocity = new Map<
      string,
      { count: number; cents: number; max: number; countries: Record<string, number> }
    >();
    for (const t of txns) {
      const k = `${t.card_id}|${t.ts.slice(0, 13)}`;
      const v = velocity.get(k) ?? { count: 0, cents: 0, max: 0, countries: {} };
      v.count++;
      v.cents += t.cents;
      v.max = Math.max(v.max, t.amount);
      v.countries[t.country] = (v.countries[t.country] ?? 0) + 1;
      velocity.set(k, v);
    }
    const rows = await materialized(runner, path, 'acmeBank/fraud/signals-to-dynamodb', 0);
    expect(rows.map((r) => `${r.card_id}|${r.hour}`).sort()).toEqual([...velocity.keys()].sort());
    for (const r of rows) {
      const v = velocity.get(`${r.card_id}|${r.hour}`)!;
      const d = r.flow_document as Record<string, unknown>;
      expect(d.count).toBe(v.count);
      // An exact decimal string: no binary-float drift however many cents were added.
      expect(d.total).toMatch(/^\d+(\.\d{1,2})?$/);
      expect(Math.round(Number(d.total) * 100)).toBe(v.cents);
      expect(d.max_amount).toBe(v.max);
      expect(d.countries).toEqual({ add: v.countries });
    }

    const flags = new Map<string, string[]>();
    for (const t of txns) {
      if (t.channel === 'atm') continue; // outside the transform's partitions
      const reasons: string[] = [];
      if (t.amount >= 1000) reasons.push('large-amount');
      if (t.channel === 'online' && t.country !== t.home_country) reasons.push('foreign-card-not-present');
      if (reasons.length > 0) flags.set(t.txn_id, reasons);
    }
    const flagged = await materialized(runner, path, 'acmeBank/fraud/signals-to-dynamodb', 1);
    expect(flags.size).toBeGreaterThan(10);
    expect(
      Object.fromEntries(flagged.map((f) => [f.txn_id, (f.flow_document as { reasons: string[] }).reasons])),
    ).toEqual(Object.fromEntries(flags));
  });
});
