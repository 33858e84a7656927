/**
 * The least work the local-stack bench's flow (events → per-user totals → a DynamoDB table) asks of the
 * emulators, done straight with the SDK from one process, no Sluice in between: append the events
 * packed into records of up to 1 MiB, read them back and parse each, append one total per user, read
 * those back, and write one row per user (RowWrites: by unconditional BatchWriteItem, or read and
 * written conditionally as exactly once needs). No HTTP ingest, no validation, no Lambda sandboxes or
 * proxies, no persisters, no checkpoints. Whatever a local stack on these emulators does on top of
 * this, it cannot do less: the floor's CPU-seconds divided by the cores bound any implementation's
 * documents per second.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type KeysAndAttributes,
  PutItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { destroyClients, EMULATOR_CREDENTIALS, makeClients } from '../../shared/adapters/clients.ts';
import { ensureTable, mapLimit } from '../../shared/adapters/dynamodb.ts';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { MAX_RECORD_BYTES } from '../../shared/ports/framing.ts';
import { cpuSnapshot, cpuSpent } from './cpu.ts';

/** Kinesis's record limit (data and partition key), less room for the key. */
const RECORD_BYTES = MAX_RECORD_BYTES - 256;
/** Kinesis's PutRecords limit per call. */
const CALL_BYTES = 5 * 1024 * 1024;

export interface FloorResult {
  seconds: number;
  /** CPU seconds by process (`client`: this process; `kinesalite`, `dynalite`). */
  cpu: Map<string, number>;
  /** Wall seconds of each step, in order. */
  steps: [string, number][];
}

/** Newline-joined documents in records of at most RECORD_BYTES. */
function pack(lines: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let batch: Buffer[] = [];
  let bytes = 0;
  for (const l of lines) {
    if (bytes + l.length + 1 > RECORD_BYTES && batch.length > 0) {
      out.push(Buffer.concat(batch));
      batch = [];
      bytes = 0;
    }
    batch.push(l, Buffer.from('\n'));
    bytes += l.length + 1;
  }
  if (batch.length > 0) out.push(Buffer.concat(batch));
  return out;
}

async function append(kinesis: KinesisClient, stream: string, records: Buffer[]): Promise<void> {
  let call: Buffer[] = [];
  let bytes = 0;
  const send = async () => {
    const res = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: call.map((Data, i) => ({ Data, PartitionKey: `p${i}` })),
      }),
    );
    if (res.FailedRecordCount)
      throw new Error(`floor PutRecords into ${stream}: ${res.FailedRecordCount} failed`);
    call = [];
    bytes = 0;
  };
  for (const r of records) {
    if (bytes + r.length > CALL_BYTES && call.length > 0) await send();
    call.push(r);
    bytes += r.length;
  }
  if (call.length > 0) await send();
}

/** Every document of every shard of `stream`, parsed. */
async function readAll(kinesis: KinesisClient, stream: string): Promise<unknown[]> {
  const docs: unknown[] = [];
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  for (const s of shards) {
    let it = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: s.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (it) {
      const res = await kinesis.send(new GetRecordsCommand({ ShardIterator: it }));
      for (const r of res.Records ?? [])
        for (const line of Buffer.from(r.Data ?? [])
          .toString('utf8')
          .split('\n'))
          if (line) docs.push(JSON.parse(line));
      if ((res.Records ?? []).length === 0 || res.MillisBehindLatest === 0) break;
      it = res.NextShardIterator;
    }
  }
  return docs;
}

/**
 * How the rows are written: `batch`, BatchWriteItem of 25 unconditional puts (the fewest calls); or
 * `exactly-once`, what a materialization that never applies a document twice needs at the least: each
 * key's item read (BatchGetItem of 100) and written by a PutItem conditional on what was read.
 */
export type RowWrites = 'batch' | 'exactly-once';

/** A user's total, as the floor's derivation step makes it. */
type Total = { user: string; count: number; total: number };

let runs = 0;

export async function flowFloor(
  emulators: Emulators,
  payloads: Buffer[],
  rowWrites: RowWrites,
): Promise<FloorResult> {
  const run = `floor${++runs}`;
  const c = makeClients({
    region: 'us-east-1',
    endpoints: emulators.endpoints,
    credentials: EMULATOR_CREDENTIALS,
  });
  try {
    const setup = new KinesisJournal({ client: c.kinesis, streamName: (s) => `${run}-${s}` });
    await setup.ensureStream('events', 2);
    await setup.ensureStream('totals', 2);
    const table = `${run}_totals`;
    await ensureTable(c.dynamodb, table, { name: 'user', type: 'S' });
    const steps: [string, number][] = [];
    const noFunctions = () => undefined;
    const cpu0 = cpuSnapshot('client', noFunctions);
    const t0 = performance.now();
    let t = t0;
    const step = (name: string) => {
      const now = performance.now();
      steps.push([name, (now - t) / 1000]);
      t = now;
    };
    await append(c.kinesis, `${run}-events`, pack(payloads));
    step('append events');
    const events = (await readAll(c.kinesis, `${run}-events`)) as { user: string; amount: number }[];
    if (events.length !== payloads.length)
      throw new Error(`floor read ${events.length} of ${payloads.length} events`);
    step('read events');
    const totals = new Map<string, Total>();
    for (const e of events) {
      const s = totals.get(e.user) ?? { user: e.user, count: 0, total: 0 };
      s.count++;
      s.total += e.amount;
      totals.set(e.user, s);
    }
    await append(
      c.kinesis,
      `${run}-totals`,
      pack([...totals.values()].map((d) => Buffer.from(JSON.stringify(d)))),
    );
    step('append totals');
    const read = (await readAll(c.kinesis, `${run}-totals`)) as Total[];
    step('read totals');
    const item = (d: Total): Record<string, AttributeValue> => ({
      user: { S: d.user },
      count: { N: String(d.count) },
      total: { N: String(d.total) },
    });
    if (rowWrites === 'batch') {
      const rows: WriteRequest[] = read.map((d) => ({ PutRequest: { Item: item(d) } }));
      for (let i = 0; i < rows.length; i += 25) {
        let pending: WriteRequest[] | undefined = rows.slice(i, i + 25);
        while (pending?.length) {
          const res: BatchWriteItemCommandOutput = await c.dynamodb.send(
            new BatchWriteItemCommand({ RequestItems: { [table]: pending } }),
          );
          pending = res.UnprocessedItems?.[table];
        }
      }
    } else {
      for (let i = 0; i < read.length; i += 100) {
        let keys: KeysAndAttributes | undefined = {
          Keys: read.slice(i, i + 100).map((d) => ({ user: { S: d.user } })),
          ConsistentRead: true,
        };
        while (keys?.Keys?.length) {
          const res: BatchGetItemCommandOutput = await c.dynamodb.send(
            new BatchGetItemCommand({ RequestItems: { [table]: keys } }),
          );
          keys = res.UnprocessedKeys?.[table];
        }
      }
      await mapLimit(read, 8, (d) =>
        c.dynamodb.send(
          new PutItemCommand({
            TableName: table,
            Item: item(d),
            ConditionExpression: 'attribute_not_exists(#u)',
            ExpressionAttributeNames: { '#u': 'user' },
          }),
        ),
      );
    }
    step('write rows');
    const seconds = (performance.now() - t0) / 1000;
    const spent = cpuSpent(cpu0, cpuSnapshot('client', noFunctions));
    spent.delete('s3rver'); // idle here: the floor writes no fragments
    return { seconds, cpu: spent, steps };
  } finally {
    destroyClients(c);
  }
}
