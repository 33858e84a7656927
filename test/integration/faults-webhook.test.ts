/**
 * materialize-webhook on the local stack against a real HTTP server on loopback that misbehaves for a
 * while — answers 500, then never answers (the connector's timeout), then closes the connection — and
 * then recovers. docs/connectors.md promises at least once: every document arrives, retried requests
 * carry the same Idempotency-Key, and per key (here one shard, so stream order) a document never arrives
 * after a later one unless that later one is delivered again after it.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isObject } from '../../shared/json/types.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { postJson } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/connector-faults/webhook.flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

interface Event {
  k: string;
  seq: number;
  ids: number[];
}

type Misbehaviour = '500' | 'hang' | 'close' | 'ok';

/**
 * A webhook receiver: misbehaves as `plan` says for its first requests, then accepts — except a body
 * `refuse` says no to (422); records what it took.
 */
async function receiver(plan: Misbehaviour[], refuse: (docs: Event[]) => boolean = () => false) {
  const received: { key: string; docs: Event[] }[] = [];
  let requests = 0;
  const hanging: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const what = plan[requests++] ?? 'ok';
      if (what === '500') {
        res.writeHead(500).end('down');
        return;
      }
      if (what === 'hang') {
        hanging.push(res);
        return;
      }
      if (what === 'close') {
        req.socket.destroy();
        return;
      }
      const docs = JSON.parse(Buffer.concat(chunks).toString()) as Event[];
      if (refuse(docs)) {
        res.writeHead(422).end('unprocessable');
        return;
      }
      received.push({ key: String(req.headers['idempotency-key']), docs });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const h of hanging) h.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('materialize-webhook against an endpoint that fails for a while', () => {
  it('every document arrives, in order per key, after 500s, timeouts and closed connections', async () => {
    const plan: Misbehaviour[] = [
      ...Array<Misbehaviour>(4).fill('500'),
      'ok',
      ...Array<Misbehaviour>(3).fill('hang'),
      'ok',
      ...Array<Misbehaviour>(4).fill('close'),
    ];
    const hook = await receiver(plan);
    cleanup.push(() => hook.close());
    const catalog = structuredClone(fixture.catalog);
    const cfg = catalog.materializations['faults/to-hook'].endpoint.config;
    if (!isObject(cfg)) throw new Error('fixture: no config');
    cfg.address = hook.url;
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-hook-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(catalog, { dataDir, shards: 1 });
    cleanup.push(() => runner.stop());

    // 20 requests of one event per key: `ids` (append) lists every event folded into a document.
    const sent: Event[] = Array.from({ length: 80 }, (_, i) => ({ k: `k${i % 4}`, seq: i, ids: [i] }));
    for (let i = 0; i < sent.length; i += 4)
      expect(await postJson(`${runner.ingestUrl}/faults/ingest/events`, sent.slice(i, i + 4))).toBe(200);
    await runner.drain();
    expect(hook.requests).toBeGreaterThan(plan.length);

    const got = hook.received.flatMap((r) => r.docs);
    // Every event arrived (at least once), nothing else did.
    expect([...new Set(got.flatMap((d) => d.ids))].sort((a, b) => a - b)).toEqual(sent.map((d) => d.seq));
    for (const k of ['k0', 'k1', 'k2', 'k3']) {
      const ids = got.filter((d) => d.k === k).flatMap((d) => d.ids);
      expect(ids.every((i) => i % 4 === Number(k.slice(1)))).toBe(true);
      // In order per key: whenever an event arrives after a later one, that later one arrives again after it.
      ids.forEach((s, i) => {
        for (const x of ids.slice(0, i).filter((x) => x > s)) expect(ids.slice(i + 1)).toContain(x);
      });
      const last = got.filter((d) => d.k === k).at(-1);
      expect(last?.seq).toBe(76 + Number(k.slice(1)));
    }
    // A chunk delivered twice carries the same Idempotency-Key both times.
    const byBody = new Map<string, Set<string>>();
    for (const r of hook.received) {
      const body = JSON.stringify(r.docs);
      byBody.set(body, (byBody.get(body) ?? new Set()).add(r.key));
    }
    for (const keys of byBody.values()) expect(keys.size).toBe(1);

    // A cold start (the instances recycled) delivers what comes next, not the history again.
    const before = hook.received.flatMap((r) => r.docs).length;
    await runner.task('materialization:faults/to-hook').fn.recycle();
    const more: Event[] = [{ k: 'k2', seq: 80, ids: [80] }];
    expect(await postJson(`${runner.ingestUrl}/faults/ingest/events`, more)).toBe(200);
    await runner.drain();
    const after = hook.received.flatMap((r) => r.docs).slice(before);
    expect(after).toEqual([expect.objectContaining(more[0])]);
    expect(runner.denied).toEqual([]);
  });
});

describe('materialize-webhook under park with an endpoint refusing one key (422)', () => {
  it('parks only the refused documents, delivers every other one, and a redrive delivers them once accepted', async () => {
    let refusing = true;
    const hook = await receiver([], (docs) => refusing && docs.some((d) => d.k === 'k3'));
    cleanup.push(() => hook.close());
    const catalog = structuredClone(fixture.catalog);
    const cfg = catalog.materializations['faults/to-hook'].endpoint.config;
    if (!isObject(cfg)) throw new Error('fixture: no config');
    cfg.address = hook.url;
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-hookpark-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(catalog, { dataDir, shards: 1, context: { onFailure: 'park' } });
    cleanup.push(() => runner.stop());
    const label = 'materialization:faults/to-hook';

    const sent: Event[] = Array.from({ length: 40 }, (_, i) => ({ k: `k${i % 4}`, seq: i, ids: [i] }));
    for (let i = 0; i < sent.length; i += 4)
      expect(await postJson(`${runner.ingestUrl}/faults/ingest/events`, sent.slice(i, i + 4))).toBe(200);
    await runner.drain();

    const ids = (k: string) => sent.filter((d) => d.k === k).map((d) => d.seq);
    const got = () => hook.received.flatMap((r) => r.docs);
    for (const k of ['k0', 'k1', 'k2'])
      expect(
        new Set(
          got()
            .filter((d) => d.k === k)
            .flatMap((d) => d.ids),
        ),
      ).toEqual(new Set(ids(k)));
    expect(got().filter((d) => d.k === 'k3')).toEqual([]);
    const parked = await runner.parkingLot(label).list();
    expect(parked.length).toBeGreaterThan(0);
    expect(parked.every((p) => (p.parked.doc as unknown as Event).k === 'k3')).toBe(true);
    expect(parked.every((p) => /WebhookRejected|422/.test(p.parked.error))).toBe(true);
    expect(new Set(parked.map((p) => p.key)).size).toBe(parked.length);
    expect(parked.flatMap((p) => (p.parked.doc as unknown as Event).ids).sort((a, b) => a - b)).toEqual(
      ids('k3'),
    );

    refusing = false;
    expect(await runner.redrive(label)).toMatchObject({ redriven: parked.length, remaining: 0 });
    expect(
      got()
        .filter((d) => d.k === 'k3')
        .flatMap((d) => d.ids)
        .sort((a, b) => a - b),
    ).toEqual(ids('k3'));
    expect(runner.denied).toEqual([]);
  });
});
