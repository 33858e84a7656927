/**
 * examples/estuary-style through what deploys: its synthesized assembly on the local stack, each
 * derivation from its Lambda bundle in Lambda's sandbox (the SQLite one on sql.js with the WASM shipped
 * in its asset, the TypeScript one bundled with `flow/` resolved through deno.json).
 *
 * Both derivations keep state (SQLite balances and holders; per-sender streaks committed by
 * `startCommit`). Each is killed after it committed a transaction, before its mapping checkpointed: the
 * restart replays that batch, which must change nothing (a replay that ran the SQL again would debit
 * twice and deny later transfers), so the reduced views equal an oracle. And each is killed (its instance's
 * SIGKILL, from its AWS proxy) at its state commit: before the manifest write reaches DynamoDB (outputs
 * appended, state not committed: the retry runs from the previous state) and after it (not checkpointed).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import type { Json } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { CrashError } from '../../shared/local/esm.ts';
import type { ProxiedCall } from '../../shared/local/sandbox/proxy.ts';
import { startAssembly } from '../support/assembly.ts';
import { postJson } from './helpers.ts';

const CATALOG = fileURLToPath(new URL('../../examples/estuary-style/flow.yaml', import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Transfer {
  id: number;
  sender: string;
  recipient: string;
  amount: number;
}

const ACCOUNTS = ['alice', 'bob', 'carol', 'dave'];

function transfers(n: number, from: number): Transfer[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const sender = i % 7 === 0 ? 'deposit' : ACCOUNTS[(i * 3) % 4];
    return { id: i, sender, recipient: ACCOUNTS[(i * 5 + 1) % 4], amount: 5 + ((i * 37) % 60) };
  });
}

/** What debitSender.sql and deny-streaks.ts compute, in id order. */
function oracle(ts: Transfer[]) {
  const balance = new Map<string, number>();
  const outcomes = new Map<number, { outcome: string; sender_balance: number }>();
  const streaks = new Map<string, { streak: number; longest: number }>();
  for (const t of ts) {
    balance.set(t.sender, balance.get(t.sender) ?? 0);
    balance.set(t.recipient, balance.get(t.recipient) ?? 0);
    const ok = t.sender === 'deposit' || balance.get(t.sender)! >= t.amount;
    if (ok) {
      balance.set(t.sender, balance.get(t.sender)! - t.amount);
      balance.set(t.recipient, balance.get(t.recipient)! + t.amount);
    }
    outcomes.set(t.id, { outcome: ok ? 'approve' : 'deny', sender_balance: balance.get(t.sender)! });
    const s = streaks.get(t.sender) ?? { streak: 0, longest: 0 };
    s.streak = ok ? 0 : s.streak + 1;
    s.longest = Math.max(s.longest, s.streak);
    streaks.set(t.sender, s);
  }
  return { outcomes, streaks };
}

function post(runner: AssemblyRunner, path: string, docs: object[]): Promise<number> {
  return postJson(`${runner.ingestUrl}/acmeBank/ingest${path}`, docs);
}

async function view(runner: AssemblyRunner, collection: string): Promise<Record<string, Json>[]> {
  const state = new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
  const out: Record<string, Json>[] = [];
  for await (const it of state.scan(collection)) out.push(it.doc as Record<string, Json>);
  return out;
}

/** The state commit of a stateful derivation: PutItem of its manifest (`m#state`). */
function isManifestWrite(c: ProxiedCall): boolean {
  if (c.service !== 'dynamodb' || !c.call.headers['x-amz-target']?.endsWith('.PutItem')) return false;
  const item = (JSON.parse(c.call.body.toString('utf8')) as { Item?: { k?: { B?: string } } }).Item;
  return item?.k?.B === Buffer.from('m#state').toString('base64');
}

describe('examples/estuary-style on the local stack', () => {
  it('SQLite and stateful TypeScript derivations killed after a commit replay nothing twice', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-estuary-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const crashes = new Map<string, number>();
    let transfersStream = '';
    const crashAt = (task: string, n: number) => (crashes.get(task) ?? 0) === n;
    const first = await startAssembly(CATALOG, {
      dataDir,
      shards: 1, // approvals depend on the order of transfers: one shard keeps the oracle's order
      beforeCheckpoint: (task, stream) => {
        const seen = crashes.get(task) ?? 0;
        if (task === 'derivation:acmeBank/transfer-outcomes' && stream !== transfersStream) return;
        crashes.set(task, seen + 1);
        // The outcomes' second batch of transfers and the streaks' second batch: after their commit.
        if (seen === 1 && task.startsWith('derivation:')) throw new CrashError(`${task} before checkpoint`);
      },
    });
    transfersStream = first.resources.streams['acmeBank/transfers'];
    const accounts = ACCOUNTS.map((a) => ({ account: a, holder: { name: a.toUpperCase() } }));
    expect(await post(first, '/accounts', accounts)).toBe(200);
    await first.drain();
    const sent = transfers(30, 1);
    expect(await post(first, '/transfers', sent.slice(0, 15))).toBe(200);
    await first.drain();
    expect(await post(first, '/transfers', sent.slice(15))).toBe(200);
    await expect(first.drain()).rejects.toThrow(CrashError);
    expect(crashAt('derivation:acmeBank/transfer-outcomes', 2)).toBe(true);
    await first.stop();

    const again = await startAssembly(CATALOG, { dataDir, shards: 1 });
    cleanup.push(() => again.stop());
    const more = transfers(20, 31);
    expect(await post(again, '/transfers', more)).toBe(200);
    await again.drain();

    const expected = oracle([...sent, ...more]);
    const outcomes = await view(again, 'acmeBank/transfer-outcomes');
    expect(outcomes).toHaveLength(50);
    for (const o of outcomes) {
      const want = expected.outcomes.get(o.id as number)!;
      expect({ id: o.id, outcome: o.outcome, sender_balance: o.sender_balance }).toEqual({
        id: o.id,
        ...want,
      });
      expect(o.sender_holder).toBe(o.sender === 'deposit' ? 'unknown' : (o.sender as string).toUpperCase());
    }
    expect(outcomes.some((o) => o.outcome === 'deny')).toBe(true);
    const streaks = await view(again, 'acmeBank/deny-streaks');
    expect(
      Object.fromEntries(streaks.map((s) => [s.sender, { streak: s.streak, longest: s.longest }])),
    ).toEqual(Object.fromEntries(expected.streaks));
    // The replayed batch was skipped as already committed (not derived again).
    expect(again.task('derivation:acmeBank/transfer-outcomes').metrics.DocsSkipped ?? 0).toBe(15);

    // The SQLite derivation's asset ships sql.js's WASM beside its bundle.
    const asset = again.task('derivation:acmeBank/transfer-outcomes').fn.fn.assetDir;
    expect(readdirSync(asset)).toContain('sql-wasm.wasm');
    expect(statSync(join(asset, 'index.mjs')).size).toBeLessThan(512 * 1024);
  }, 120_000);

  it('the instance killed at its state commit, before the manifest write (outputs appended) and after it (not checkpointed): views equal the oracle', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-estuary-kill-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const OUTCOMES = 'derivation:acmeBank/transfer-outcomes';
    const STREAKS = 'derivation:acmeBank/deny-streaks';
    // Per task: which of its manifest writes to kill, before (b) or after (a) it reaches DynamoDB.
    const plan: Record<string, Record<number, 'b' | 'a'>> = {
      [OUTCOMES]: { 2: 'b', 3: 'a' },
      [STREAKS]: { 2: 'b', 3: 'a' },
    };
    const writes = new Map<string, number>();
    const killed: string[] = [];
    let runner: AssemblyRunner | undefined;
    const taskOf = (c: ProxiedCall) =>
      [OUTCOMES, STREAKS].find((t) => runner?.task(t).fn.name === c.functionName);
    const kill = (task: string, when: 'b' | 'a') => {
      killed.push(`${task} ${when}`);
      void runner!.task(task).fn.recycle();
    };
    runner = await startAssembly(CATALOG, {
      dataDir,
      shards: 1,
      idlePollMs: 100,
      hooks: {
        before: (c) => {
          const task = taskOf(c);
          if (!task || !isManifestWrite(c)) return undefined;
          const n = (writes.get(task) ?? 0) + 1;
          writes.set(task, n);
          if (plan[task][n] !== 'b') return undefined;
          kill(task, 'b');
          return { status: 500, headers: {}, body: '' };
        },
        after: (c, status) => {
          const task = taskOf(c);
          if (task && status === 200 && isManifestWrite(c) && plan[task][writes.get(task)!] === 'a')
            kill(task, 'a');
        },
      },
    });
    cleanup.push(() => runner!.stop());
    const accounts = ACCOUNTS.map((a) => ({ account: a, holder: { name: a.toUpperCase() } }));
    expect(await post(runner, '/accounts', accounts)).toBe(200);
    await runner.drain();
    const sent = transfers(30, 1);
    for (let i = 0; i < sent.length; i += 10) {
      expect(await post(runner, '/transfers', sent.slice(i, i + 10))).toBe(200);
      await runner.drain();
    }
    expect(killed.sort()).toEqual([`${STREAKS} a`, `${STREAKS} b`, `${OUTCOMES} a`, `${OUTCOMES} b`].sort());
    const expected = oracle(sent);
    const outcomes = await view(runner, 'acmeBank/transfer-outcomes');
    expect(outcomes).toHaveLength(sent.length);
    for (const o of outcomes)
      expect({ id: o.id, outcome: o.outcome, sender_balance: o.sender_balance }).toEqual({
        id: o.id,
        ...expected.outcomes.get(o.id as number)!,
      });
    const streaks = await view(runner, 'acmeBank/deny-streaks');
    expect(
      Object.fromEntries(streaks.map((s) => [s.sender, { streak: s.streak, longest: s.longest }])),
    ).toEqual(Object.fromEntries(expected.streaks));
  }, 120_000);
});
