/**
 * Test helpers for the local stack: emulators per test file, unique names, and fault injection through
 * SDK middleware (the emulators do not throttle: facts.md). Faults are injected in the `initialize` step
 * of the real SDK client, so everything below (serialization, HTTP, the emulator) is real.
 */
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { expect } from 'vitest';
import { type AwsClients, EMULATOR_CREDENTIALS, makeClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { captureStateKey } from '../../shared/connectors/capture-runner.ts';
import { DynamoDbConnector } from '../../shared/connectors/materialize-dynamodb.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { type Emulators, startEmulators } from '../../shared/local/emulators.ts';
import type { CannedResponse, ProxiedCall, ProxyHooks } from '../../shared/local/sandbox/proxy.ts';

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function startStack(dataDir?: string): Promise<{ emulators: Emulators; clients: AwsClients }> {
  const emulators = await startEmulators({ dataDir });
  const clients = makeClients({
    region: 'us-east-1',
    endpoints: emulators.endpoints,
    credentials: EMULATOR_CREDENTIALS,
    maxAttempts: 1,
  });
  return { emulators, clients };
}

export interface KinesisFaults {
  /** Fraction of PutRecords entries to fail (not written) with ProvisionedThroughputExceededException. */
  failFraction: number;
  /** Fraction of PutRecords calls rejected whole with a throttling error. */
  throttleFraction: number;
  /** Counters of what was injected. */
  injected: { failedRecords: number; throttledCalls: number };
}

/**
 * Inject partial PutRecords failures and whole-call throttling into a real Kinesis client. Failed
 * entries are removed from the request before it is sent (so they are really not written) and
 * reported back in the response at their original index with an ErrorCode, exactly as Kinesis does.
 */
export function injectKinesisFaults(
  client: KinesisClient,
  opts: { failFraction: number; throttleFraction: number; random?: () => number },
): KinesisFaults {
  const rnd = opts.random ?? Math.random;
  const faults: KinesisFaults = { ...opts, injected: { failedRecords: 0, throttledCalls: 0 } };
  type Entry = { Data?: Uint8Array };
  type Out = { SequenceNumber?: string; ShardId?: string; ErrorCode?: string; ErrorMessage?: string };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      if (rnd() < faults.throttleFraction) {
        faults.injected.throttledCalls++;
        const e = new Error('Rate exceeded for stream (injected)');
        e.name = 'ProvisionedThroughputExceededException';
        throw e;
      }
      const input = args.input as { Records: Entry[] };
      const all = input.Records;
      const fail = all.map(() => rnd() < faults.failFraction);
      const kept = all.filter((_, i) => !fail[i]);
      let sent: Out[] = [];
      let output: { Records?: Out[]; FailedRecordCount?: number } = {};
      let result: Awaited<ReturnType<typeof next>> | undefined;
      if (kept.length > 0) {
        result = await next({ ...args, input: { ...input, Records: kept } });
        output = result.output as typeof output;
        sent = output.Records ?? [];
      }
      let j = 0;
      const merged: Out[] = all.map((_, i) => {
        if (!fail[i]) return sent[j++];
        faults.injected.failedRecords++;
        return {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: 'Rate exceeded (injected)',
        };
      });
      const failedCount = merged.filter((r) => r.ErrorCode).length;
      const out = { ...output, Records: merged, FailedRecordCount: failedCount };
      return { ...(result ?? { response: {} }), output: out } as Awaited<ReturnType<typeof next>>;
    },
    { step: 'initialize', name: 'sluiceTestFaults' },
  );
  return faults;
}

/** A test event whose `amount` the fixtures' derivations sum per `user`. */
export interface SumEvent {
  id: string;
  user: string;
  amount: number;
}

/** `n` events numbered from `from`, spread over `users` users, amounts `(i * mul) % mod`. */
export function sumEvents(
  n: number,
  from: number,
  shape: { users: number; mul: number; mod: number },
): SumEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `e${from + i}`,
    user: `u${(from + i) % shape.users}`,
    amount: ((from + i) * shape.mul) % shape.mod,
  }));
}

/** What the sums per user must be after every event was applied exactly once. */
export function sumOracle(sent: SumEvent[]): Record<string, { count: number; total: number }> {
  const out: Record<string, { count: number; total: number }> = {};
  for (const e of sent) {
    out[e.user] ??= { count: 0, total: 0 };
    out[e.user].count++;
    out[e.user].total += e.amount;
  }
  return out;
}

/** The reduced view of a collection in a running assembly's state table: `{user: {count, total}}` of the sum fixtures. */
export async function sumsOf(
  runner: AssemblyRunner,
  collection = 'test/totals',
): Promise<Record<string, { count: number; total: number }>> {
  const out: Record<string, { count: number; total: number }> = {};
  const store = new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
  for await (const it of store.scan(collection)) {
    const d = it.doc as { user: string; count: number; total: number };
    out[d.user] = { count: d.count, total: d.total };
  }
  return out;
}

/** A DynamoDB materialization's table of the sum fixtures (its first binding): `{user: {count, total}}`. */
export async function materializedSums(
  catalog: BuiltCatalog,
  materialization: string,
  client: DynamoDBClient,
): Promise<Record<string, { count: number; total: number }>> {
  const c = new DynamoDbConnector({ spec: catalog.materializations[materialization], catalog, client });
  return Object.fromEntries(
    (await c.items(0)).map((i) => [i.user as string, { count: i.count as number, total: i.total as number }]),
  );
}

/** POST documents as one JSON body to an ingest URL (`<ingestUrl>/<capture>/<binding path>`): the status, body read. */
export async function postJson(url: string, docs: unknown): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(docs),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Every document's `id` in a collection's S3 fragments, sorted (an id twice: a document in two fragments). */
export async function fragmentIds(runner: AssemblyRunner, collection: string): Promise<string[]> {
  const place = runner.resources.fragments[collection];
  const blobs = new S3BlobStore({ client: runner.admin.s3, bucket: place.bucket });
  const ids: string[] = [];
  for (const k of await blobs.list(place.folder))
    for (const line of gunzipSync(Buffer.from((await blobs.get(k))!))
      .toString()
      .trim()
      .split('\n'))
      ids.push((JSON.parse(line) as { id: string }).id);
  return ids.sort();
}

/** S3's answer to a request it throttles (503 SlowDown), for a proxy hook to give instead of the call's. */
export const SLOW_DOWN: CannedResponse = {
  status: 503,
  headers: { 'content-type': 'application/xml' },
  body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>LOCAL</RequestId><HostId>LOCAL</HostId></Error>',
};

/**
 * Proxy hooks refusing (S3's 503 SlowDown) saves of a polling capture's state object
 * (`captureStateKey`): the next `refuse` of them, a count the test may set at any time (`onSaved`
 * is told of each save that went through); `saves` counts both kinds.
 */
export function stateSaveRefusals(capture: string, refuse = 0, onSaved?: (saves: number) => void) {
  const key = captureStateKey(capture);
  const isSave = (c: ProxiedCall) =>
    c.iam.find((r) => r.action === 's3:PutObject')?.resource.endsWith(`/${key}`) === true;
  const r = {
    /** The state object's key in its bucket. */
    key,
    refuse,
    saves: { ok: 0, refused: 0 },
    hooks: {
      before: (c) => {
        if (!isSave(c) || r.refuse === 0) return undefined;
        r.refuse--;
        r.saves.refused++;
        return SLOW_DOWN;
      },
      after: (c, status) => {
        if (!isSave(c) || status !== 200) return;
        r.saves.ok++;
        onSaved?.(r.saves.ok);
      },
    } satisfies ProxyHooks,
  };
  return r;
}

/** A document of the localstack fixture's `test/accounts` (balances summed per id). */
export type Account = { id: string; balance: number };

/** Posts accounts to the localstack fixture's ingest, expecting 200. */
export async function postAccounts(runner: AssemblyRunner, docs: Account[]): Promise<void> {
  expect(await postJson(`${runner.ingestUrl}/test/ingest/accounts`, docs)).toBe(200);
}
