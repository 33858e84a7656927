/**
 * Backfill on the local stack, through the synthesized assembly: the stack is restarted with a catalog
 * that adds a materialization binding
 * (a new table of a collection the materialization did not read, and a second table of a collection it
 * already read). The new bindings read the history from the S3 fragments, then the journal, and end with
 * exactly the reduction of all N + M documents; the existing binding is not touched twice.
 *
 * The restarted stack cold-starts instances together (one per shard's mapping, and the backfill job's
 * schedule): one of them leads the backfill under the lease, the others wait for it. Every fragment is
 * read once, nothing is denied, and no instance logs an error (before the job, two instances raced in
 * the backfill and one lost its conditional writes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import type { ProxiedCall } from '../../shared/local/sandbox/proxy.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

const M = 'test/to-dynamo';

function withBindings(tables: string[]): BuiltCatalog {
  const c = structuredClone(fixture.catalog);
  const spec = c.materializations[M];
  const template = spec.bindings[0];
  spec.bindings = tables.map((t) => ({
    ...structuredClone(template),
    source: { name: t.startsWith('test_accounts') ? 'test/accounts' : 'test/totals' },
    resource: { table: t },
  }));
  return c;
}

function events(n: number, from: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `e${from + i}`,
    user: `u${(from + i) % 7}`,
    amount: ((from + i) * 37) % 101,
  }));
}

describe('backfill on the local stack', () => {
  it('bindings added after N documents end with the reduction of all N + M', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-backfill-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const post = async (runner: AssemblyRunner, docs: unknown[]) => {
      const res = await fetch(`${runner.ingestUrl}/test/ingest/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(docs),
      });
      expect(res.status).toBe(200);
    };
    const sent = events(200, 0);
    // The materialization's reads of fragments, seen on the wire (its proxy): that is the backfill.
    let fragmentReads: string[] = [];
    const opts = {
      dataDir,
      hooks: {
        after: (c: ProxiedCall) => {
          const r = c.iam[0];
          if (c.functionName.includes('Materializations') && r?.action === 's3:GetObject')
            fragmentReads.push(r.resource);
        },
      },
    };

    // 1. The materialization reads only test/totals into one table; N documents flow and are persisted.
    const first = await startAssembly(withBindings(['bf_totals']), opts);
    for (let i = 0; i < sent.length; i += 50) await post(first, sent.slice(i, i + 50));
    await first.drain();
    await first.stop();

    // 2. Restart with two more bindings: a second table of test/totals, and test/accounts.
    const catalog = withBindings(['bf_totals', 'bf_totals_again', 'test_accounts_bf']);
    fragmentReads = [];
    const again = await startAssembly(catalog, opts);
    cleanup.push(() => again.stop());
    const more = events(70, 200);
    await post(again, more);
    await again.drain();
    // The new bindings read their history from the persisted fragments of test/totals and test/accounts.
    const totalsFolder = again.resources.fragments['test/totals']?.folder ?? 'test/totals/';
    expect(fragmentReads.some((k) => k.includes(`/${totalsFolder}`))).toBe(true);
    // One leader: each fragment read once, by whichever instance held the lease; the others waited.
    expect(fragmentReads.length).toBeGreaterThan(1);
    expect(fragmentReads.filter((k, i) => fragmentReads.indexOf(k) !== i)).toEqual([]);
    expect(again.denied).toEqual([]);
    expect(again.task(`materialization:${M}`).recentErrors).toEqual([]);

    const oracle: Record<string, { count: number; total: number }> = {};
    for (const e of [...sent, ...more]) {
      oracle[e.user] ??= { count: 0, total: 0 };
      oracle[e.user].count++;
      oracle[e.user].total += e.amount;
    }
    const table = async (binding: number, runner: AssemblyRunner = again) =>
      Object.fromEntries(
        (
          await new DynamoDbConnector({
            spec: catalog.materializations[M],
            catalog,
            client: runner.admin.dynamodb,
          }).items(binding)
        ).map((i) => [i.user as string, { count: i.count as number, total: i.total as number }]),
      );
    expect(await table(0)).toEqual(oracle);
    expect(await table(1)).toEqual(oracle);

    // 3. A third start changes nothing: the markers say the bindings have their history.
    await again.stop();
    cleanup.pop();
    fragmentReads = [];
    const third = await startAssembly(catalog, opts);
    cleanup.push(() => third.stop());
    await post(third, []);
    await third.drain();
    // one more document wakes the materialization (cold start, open): no fragment is read again
    const last = events(1, 270);
    await post(third, last);
    await third.drain();
    expect(fragmentReads).toEqual([]);
    more.push(...last);
    oracle[last[0].user] ??= { count: 0, total: 0 };
    oracle[last[0].user].count++;
    oracle[last[0].user].total += last[0].amount;
    expect(await table(0, third)).toEqual(oracle);
    expect(await table(1, third)).toEqual(oracle);
  });

  it('the scheduled backfill job killed midway (a fragment read fails) resumes without reading completed fragments again', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-backfill-kill-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const post = async (runner: AssemblyRunner, docs: unknown[]) => {
      const res = await fetch(`${runner.ingestUrl}/test/ingest/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(docs),
      });
      expect(res.status).toBe(200);
    };
    const sent = events(200, 0);
    const isFragmentRead = (c: ProxiedCall) =>
      c.functionName.includes('Materializations') && c.iam[0]?.action === 's3:GetObject';
    // Fragments the materialization read successfully; the 4th read of the restarted stack fails once
    // (AccessDenied: not retried by the SDK), which stops the leader's invocation midway.
    const reads: string[] = [];
    let attempts = 0;
    let injected = 0;
    let inject = false;
    const opts = {
      dataDir,
      hooks: {
        before: (c: ProxiedCall) => {
          if (!inject || !isFragmentRead(c) || ++attempts !== 4) return undefined;
          injected++;
          return {
            status: 403,
            headers: { 'content-type': 'application/xml' },
            body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>injected</Message></Error>',
          };
        },
        after: (c: ProxiedCall, status: number) => {
          if (inject && isFragmentRead(c) && status === 200) reads.push(c.iam[0]?.resource ?? '');
        },
      },
    };
    const first = await startAssembly(withBindings(['bfk_totals']), opts);
    // Drained after each post: each becomes its own persisted batches, so there are many fragments.
    for (let i = 0; i < sent.length; i += 20) {
      await post(first, sent.slice(i, i + 20));
      await first.drain();
    }
    await first.stop();

    inject = true;
    const catalog = withBindings(['bfk_totals', 'bfk_totals_again']);
    const again = await startAssembly(catalog, opts);
    cleanup.push(() => again.stop());
    // The backfill job's schedule ticks (the template's rule, {"sluiceBackfill": true}): the first tick
    // dies at the 4th fragment, having committed 3; the next tick continues from there.
    await again.runSchedules();
    expect(injected).toBe(1);
    expect(again.ruleErrors().join()).toContain('injected');
    expect(reads).toHaveLength(3);
    await again.runSchedules();
    expect(reads.length).toBeGreaterThan(3);
    const backfilled = reads.length;
    // Live again: the new binding is backfilled, its batches apply at once, no fragment is read again.
    await post(again, events(1, 200));
    await again.drain();
    expect(reads).toHaveLength(backfilled);
    expect(reads.filter((k, i) => reads.indexOf(k) !== i)).toEqual([]);
    expect(again.denied).toEqual([]);
    const oracle: Record<string, { count: number; total: number }> = {};
    for (const e of [...sent, ...events(1, 200)]) {
      oracle[e.user] ??= { count: 0, total: 0 };
      oracle[e.user].count++;
      oracle[e.user].total += e.amount;
    }
    const items = await new DynamoDbConnector({
      spec: catalog.materializations[M],
      catalog,
      client: again.admin.dynamodb,
    }).items(1);
    expect(
      Object.fromEntries(
        items.map((i) => [i.user as string, { count: i.count as number, total: i.total as number }]),
      ),
    ).toEqual(oracle);
  });
});
