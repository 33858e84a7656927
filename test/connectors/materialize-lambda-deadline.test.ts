/**
 * The deployed materialization (functions/materialize.ts) bounds each commit by its Lambda invocation:
 * the connector built by `createConnector` reads `deadlineMs` from the current invocation's context
 * (remaining time less DEADLINE_SAFETY_MS), so materialize-webhook's retries and request timeouts never
 * outlive the function (which would be killed mid-request instead of failing the batch cleanly).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConnector,
  DEADLINE_SAFETY_MS,
  invocationDeadline,
  withInvocation,
} from '../../functions/materialize.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import type { Runtime } from '../../shared/config/runtime.ts';
import { EndpointError } from '../../shared/connectors/errors.ts';
import type { MaterializeTransaction } from '../../shared/materialize/connector.ts';
import { materialization } from './fixtures.ts';

let silent: Server;
let address: string;
let requests = 0;

beforeAll(async () => {
  // Never answers: without a deadline every attempt would wait its full timeoutMs.
  silent = createServer(() => {
    requests++;
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  address = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  silent.closeAllConnections();
  await new Promise<void>((r) => silent.close(() => r()));
});

function runtimeWith(name: string): Runtime {
  const spec = materialization(name, 'materialize-webhook', { address, timeoutMs: 20_000, maxRetries: 5 }, [
    { relativePath: 'orders' },
  ]);
  const catalog = { materializations: { [name]: spec } } as unknown as BuiltCatalog;
  return {
    catalog,
    blobs: () => {
      throw new Error('no blobs here');
    },
    // The webhook's checkpoint store (the state table) is built but never reached: nothing commits here.
    clients: {},
    env: {},
  } as unknown as Runtime;
}

const txn: MaterializeTransaction = {
  bindings: [{ binding: 0, docs: [{ key: [1], doc: { id: 1 }, deleted: false }] }],
  checkpoint: { 'acme/orders/shard-0': `${'7'.padStart(128, '0')}:000000` },
};

const context = (remainingMs: number) => {
  const end = Date.now() + remainingMs;
  return { getRemainingTimeInMillis: () => Math.max(0, end - Date.now()) };
};

describe('functions/materialize.ts: the Lambda invocation bounds a commit', () => {
  it('the deadline is the invocation end less the safety margin, and only inside the invocation', async () => {
    expect(invocationDeadline()).toBeUndefined();
    const before = Date.now();
    const inside = await withInvocation(context(60_000), async () => {
      await new Promise((r) => setTimeout(r, 20)); // survives awaits (async context)
      return invocationDeadline();
    });
    expect(inside).toBeGreaterThanOrEqual(before + 60_000 - DEADLINE_SAFETY_MS - 5);
    expect(inside).toBeLessThanOrEqual(Date.now() + 60_000 - DEADLINE_SAFETY_MS);
    expect(invocationDeadline()).toBeUndefined();
  });

  it("a webhook commit gives up at the invocation's deadline with WebhookUnavailable, not at its own 90 s budget", async () => {
    const connector = await createConnector(runtimeWith('acme/hook-lambda'), 'acme/hook-lambda');
    const start = Date.now();
    const err = (await withInvocation(context(DEADLINE_SAFETY_MS + 700), () => connector.commit(txn)).catch(
      (e: unknown) => e,
    )) as EndpointError;
    const took = Date.now() - start;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.code).toBe('WebhookUnavailable');
    expect(err.message).toMatch(/deadline/);
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(3000);
    expect(requests).toBeGreaterThanOrEqual(1);
  }, 15_000);

  it('each invocation has its own deadline: a warm instance does not reuse the previous one', async () => {
    const connector = await createConnector(runtimeWith('acme/hook-warm'), 'acme/hook-warm');
    for (const extra of [300, 900]) {
      const start = Date.now();
      await withInvocation(context(DEADLINE_SAFETY_MS + extra), () => connector.commit(txn)).catch(
        () => undefined,
      );
      const took = Date.now() - start;
      expect(took).toBeGreaterThanOrEqual(extra - 100);
      expect(took).toBeLessThan(extra + 2000);
    }
  }, 15_000);
});
