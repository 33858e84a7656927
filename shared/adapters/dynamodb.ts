/**
 * DynamoDB adapters: the StateStore (reduced documents + checkpoints) and `DynamoTable`, a small typed
 * wrapper used by the materialize-dynamodb connector for user tables. Only this file talks to DynamoDB.
 *
 * State table layout (one table per deployment, SLUICE_STATE_TABLE): partition key `p` (S), sort key `k` (B);
 * the partitions are spelled in ports/state-partitions.ts.
 * - reduced document: p = `s#<collection>`, k = packed collection key (order-preserving bytes, so a Query
 *   returns documents in key order), `d` = the document as JSON text (absent: tombstone of a deleted
 *   document), `a` = the applied positions per source shard as canonical JSON text. Writes are
 *   conditional on `a` being exactly what was loaded (or the item being absent). A packed key longer than
 *   DynamoDB's 1,024-byte sort key limit is stored under `k` = 0xFF + SHA-256 of the key, the full key in
 *   `K` (such items sort after every other key of the partition: packed keys start with a tag < 0xFF).
 *   A tombstone carries `ttl` (epoch seconds) when SLUICE_TOMBSTONE_TTL_SECONDS is set: DynamoDB deletes it after that.
 *   A document whose item would exceed SPILL_ITEM_BYTES is spilled: written to S3 (`spillTo`, content
 *   addressed) and the item holds `r` = `s3://<bucket>/<key>` instead of `d`; every read resolves it.
 *   With a replay horizon set, `u` holds when each source of `a` last moved (JSON text) and entries older
 *   than the horizon are pruned on write (ports/state.ts pruneApplied).
 * - checkpoint: p = `c#<task>` (task = `<kind>:<name>`), k = UTF-8 shard id, `pos` = position (position.ts encoding: a padded
 *   string, never a number). Conditional on `pos` being lower, so checkpoints never move backwards.
 * - origin watermarks of a derive task on one input shard: p = `c#derivation:<derived collection>` (the
 *   partition its IAM policy allows), k = `w#<collection>/<shardId>`, `pos` = the input position the marks
 *   are up to, `w` = the marks per origin source as canonical JSON text. Conditional on `pos` being lower.
 * Every call counts read/write units into the meter.
 */
import { createHash } from 'node:crypto';
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { Json } from '../json/types.ts';
import type { BlobStore } from '../ports/blob.ts';
import {
  type DerivationCheckpoint,
  DerivationStateConflict,
  type DerivationStateStore,
} from '../ports/derivation-state.ts';
import {
  type OriginWatermarks,
  pruneApplied,
  StateError,
  type StateItem,
  type StateStore,
  type StateWrite,
  type StateWriteResult,
  stampApplied,
} from '../ports/state.ts';
import { taskPartition, viewPartition } from '../ports/state-partitions.ts';
import { dynamoItemBytes, type UsageMeter } from '../ports/usage.ts';

const MAX_ITEM_BYTES = 400 * 1024;

/**
 * An item larger than this has its document spilled to S3. Well under the 400 KB limit: the size is
 * this code's count of attribute names and values (ports/usage.ts dynamoItemBytes), and what stays in
 * the item beside the pointer (key, `applied` map, fields that fit) must still fit.
 */
export const SPILL_ITEM_BYTES = 300 * 1024;

/** Reads the objects of a bucket: how stores resolve spilled documents (`s3://bucket/key`). */
export type BlobsOf = (bucket: string) => BlobStore;

/** The error of a spilled document that cannot be read (no blob access configured, object missing). */
function spillUnreadable(owner: string, keyHex: string, uri: string, why: string): StateError {
  return new StateError('SpillUnreadable', owner, keyHex, `spilled document ${uri}: ${why}`);
}

/**
 * Write a document's JSON text to S3 under `prefix`, named by its SHA-256: a retried or fenced writer
 * writes the same bytes to the same name, and a different document gets a different name, so an item's
 * pointer never sees its object overwritten. The object is written before the item that points at it
 * (a PUT is atomic: no reader sees half of it); a writer that then loses its condition leaves an
 * unreferenced object behind, never a dangling pointer.
 */
export async function spillDocument(
  blobs: BlobStore,
  bucket: string,
  prefix: string,
  text: string,
): Promise<string> {
  const key = `${prefix}${createHash('sha256').update(text).digest('hex')}.json`;
  await blobs.put(key, Buffer.from(text), 'application/json');
  return `s3://${bucket}/${key}`;
}

/** The document a spill pointer (`s3://bucket/key`) refers to. */
export async function readSpilled(
  blobsOf: BlobsOf | undefined,
  uri: string,
  owner: string,
  keyHex: string,
): Promise<Json> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) throw spillUnreadable(owner, keyHex, uri, 'not an s3:// URI');
  if (!blobsOf) throw spillUnreadable(owner, keyHex, uri, 'this reader has no S3 access configured');
  const body = await blobsOf(m[1]).get(m[2]);
  if (body === undefined) throw spillUnreadable(owner, keyHex, uri, 'the object does not exist');
  return JSON.parse(Buffer.from(body).toString('utf8')) as Json;
}

/** DynamoDB's limit on a binary sort key. */
export const MAX_SORT_KEY_BYTES = 1024;

/**
 * The sort key a reduced document is stored under: its packed key, or — when that is longer than
 * DynamoDB allows (a document whose key was fine for the collection must never halt its persister) —
 * 0xFF followed by the key's SHA-256, with the full key kept in the item.
 */
export function storageKey(key: Buffer): Buffer {
  if (key.length <= MAX_SORT_KEY_BYTES) return key;
  return Buffer.concat([Buffer.from([0xff]), createHash('sha256').update(key).digest()]);
}

export interface DynamoOptions {
  client: DynamoDBClient;
  meter?: UsageMeter;
  /** Parallel single-item writes (default 16). */
  concurrency?: number;
}

/** Run `fn` over items with at most `n` in flight. */
export async function mapLimit<T, R>(
  items: T[],
  n: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

function canonicalApplied(a: Record<string, string>): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(a).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))),
  );
}

/** Create a table (an existing one is fine) and wait until it is ACTIVE. */
export async function ensureTable(
  client: DynamoDBClient,
  TableName: string,
  pk: { name: string; type: 'S' | 'N' | 'B' },
  sk?: { name: string; type: 'S' | 'N' | 'B' },
): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: pk.name, AttributeType: pk.type },
          ...(sk ? [{ AttributeName: sk.name, AttributeType: sk.type }] : []),
        ],
        KeySchema: [
          { AttributeName: pk.name, KeyType: 'HASH' },
          ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
        ],
      }),
    );
  } catch (e) {
    if ((e as Error).name !== 'ResourceInUseException') throw e;
  }
  for (let i = 0; i < 400; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName }));
    if (d.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`DynamoDB table ${TableName} did not become ACTIVE`);
}

/** Batch-get with retries of unprocessed keys; returns the items found. */
async function batchGet(
  client: DynamoDBClient,
  TableName: string,
  keys: Record<string, AttributeValue>[],
  meter: UsageMeter | undefined,
): Promise<Record<string, AttributeValue>[]> {
  const found: Record<string, AttributeValue>[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let pending: Record<string, AttributeValue>[] = keys.slice(i, i + 100);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0)
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 20 * 2 ** attempt)));
      const res = await client.send(
        new BatchGetItemCommand({ RequestItems: { [TableName]: { Keys: pending, ConsistentRead: true } } }),
      );
      const got = res.Responses?.[TableName] ?? [];
      for (const it of got) {
        found.push(it);
        meter?.dynamoRead(dynamoItemBytes(it), true);
      }
      const unprocessed = res.UnprocessedKeys?.[TableName]?.Keys ?? [];
      // A strongly consistent read of an absent item still costs one read unit.
      for (let n = pending.length - got.length - unprocessed.length; n > 0; n--) meter?.dynamoRead(0, true);
      pending = unprocessed;
    }
  }
  return found;
}

// Stateful derivations (ports/derivation-state.ts), in the task's own partition `c#derivation:<name>`:
// the manifest at k = `m#state` (`v` version as N, `m` the checkpoint as JSON text), pages at
// k = `g#<hash>` (`b` the page bytes). A 4 KiB page costs 4 write units; a manifest ~1 unit per KB.

const MANIFEST_KEY = Buffer.from('m#state');
const pageKey = (hash: string): Buffer => Buffer.from(`g#${hash}`);

export class DynamoStateStore implements StateStore, DerivationStateStore {
  constructor(
    private readonly opts: DynamoOptions & {
      /** The state table (SLUICE_STATE_TABLE). */
      table: string;
      /**
       * Tombstones expire this long after they are written (attribute `ttl`, the table's TTL attribute),
       * so deleted keys do not accumulate forever. Must outlast any replay: longer than the stream's
       * retention (infra sets it so). Undefined: tombstones are kept.
       */
      tombstoneTtlSeconds?: number;
      /**
       * Entries of an `applied` map that have not moved for this long are pruned on write (ports/state.ts
       * pruneApplied): longer than any redelivery window (infra's SLUICE_APPLIED_HORIZON_SECONDS).
       * Undefined: maps are never pruned (and no times are kept).
       */
      appliedHorizonSeconds?: number;
      /**
       * Where a collection's documents too large for an item are written (bucket and key prefix; the
       * persister's: persist/place.ts viewSpillFolder). Undefined: never spilled.
       */
      spillTo?: (collection: string) => { bucket: string; prefix: string };
      /** S3 access by bucket: writes spilled documents and resolves them on every read. */
      blobs?: BlobsOf;
      /** Seconds since epoch (tests). */
      nowSeconds?: () => number;
    },
  ) {}

  private now(): number {
    return this.opts.nowSeconds?.() ?? Math.floor(Date.now() / 1000);
  }

  /** A state item as read, its spilled document (if any) fetched. */
  private async resolve(collection: string, it: Record<string, AttributeValue>): Promise<StateItem> {
    const item = toStateItem(it);
    const ref = it.r?.S;
    if (ref !== undefined)
      item.doc = await readSpilled(this.opts.blobs, ref, collection, item.key.toString('hex'));
    return item;
  }

  /** Create the state table when missing (provisioning; the CDK stack does this on AWS). */
  ensureTable(): Promise<void> {
    return ensureTable(this.opts.client, this.opts.table, { name: 'p', type: 'S' }, { name: 'k', type: 'B' });
  }

  async load(collection: string, keys: Buffer[]): Promise<Map<string, StateItem>> {
    const unique = [...new Map(keys.map((k) => [k.toString('hex'), k])).values()];
    const items = await batchGet(
      this.opts.client,
      this.opts.table,
      unique.map((k) => ({ p: { S: viewPartition(collection) }, k: { B: storageKey(k) } })),
      this.opts.meter,
    );
    const out = new Map<string, StateItem>();
    const resolved = await mapLimit(items, this.opts.concurrency ?? 16, (it) => this.resolve(collection, it));
    for (const item of resolved) out.set(item.key.toString('hex'), item);
    return out;
  }

  async write(collection: string, writes: StateWrite[]): Promise<StateWriteResult> {
    const conflicts: string[] = [];
    let written = 0;
    await mapLimit(writes, this.opts.concurrency ?? 16, async (w) => {
      const now = this.now();
      let applied = w.applied;
      let at: Record<string, number> | undefined;
      if (this.opts.appliedHorizonSeconds !== undefined) {
        const pruned = pruneApplied(
          applied,
          stampApplied(applied, w.expected, w.appliedAt, now),
          now,
          this.opts.appliedHorizonSeconds,
        );
        applied = pruned.applied;
        at = pruned.at;
      }
      const Item: Record<string, AttributeValue> = {
        p: { S: viewPartition(collection) },
        k: { B: storageKey(w.key) },
        a: { S: canonicalApplied(applied) },
      };
      if (at !== undefined) Item.u = { S: JSON.stringify(at) };
      if (w.key.length > MAX_SORT_KEY_BYTES) Item.K = { B: w.key };
      const text = w.doc === undefined ? undefined : JSON.stringify(w.doc);
      if (text !== undefined) Item.d = { S: text };
      else if (this.opts.tombstoneTtlSeconds !== undefined) {
        Item.ttl = { N: String(now + this.opts.tombstoneTtlSeconds) };
      }
      let bytes = dynamoItemBytes(Item);
      const to = this.opts.spillTo?.(collection);
      if (text !== undefined && bytes > SPILL_ITEM_BYTES && to !== undefined && this.opts.blobs) {
        // Too large for an item (a growing `append` or `set`): the document goes to S3, the item points at it.
        Item.r = { S: await spillDocument(this.opts.blobs(to.bucket), to.bucket, to.prefix, text) };
        delete Item.d;
        bytes = dynamoItemBytes(Item);
      }
      if (bytes > MAX_ITEM_BYTES)
        throw new StateError(
          'ItemTooLarge',
          collection,
          w.key.toString('hex'),
          `reduced document is ${bytes} bytes, over DynamoDB's 400 KB item limit`,
        );
      try {
        await this.opts.client.send(
          new PutItemCommand({
            TableName: this.opts.table,
            Item,
            ...(w.expected === undefined
              ? { ConditionExpression: 'attribute_not_exists(p)' }
              : {
                  ConditionExpression: 'a = :a',
                  ExpressionAttributeValues: { ':a': { S: canonicalApplied(w.expected) } },
                }),
          }),
        );
        written++;
      } catch (e) {
        if (
          !(e instanceof ConditionalCheckFailedException) &&
          (e as Error).name !== 'ConditionalCheckFailedException'
        )
          throw e;
        conflicts.push(w.key.toString('hex'));
      } finally {
        this.opts.meter?.dynamoWrite(bytes);
      }
    });
    return { written, conflicts };
  }

  async *scan(collection: string): AsyncIterable<StateItem> {
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const res: QueryCommandOutput = await this.opts.client.send(
        new QueryCommand({
          TableName: this.opts.table,
          KeyConditionExpression: 'p = :p',
          ExpressionAttributeValues: { ':p': { S: viewPartition(collection) } },
          ExclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      for (const it of res.Items ?? []) {
        this.opts.meter?.dynamoRead(dynamoItemBytes(it), true);
        if (it.d === undefined && it.r === undefined) continue; // a tombstone
        yield await this.resolve(collection, it);
      }
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  /**
   * One page of a collection's reduced documents in key order (the web console): those whose packed
   * key starts with `prefix` (a packed key without its terminator matches every key it prefixes) and
   * sorts after `after`. `next` is the last key of the page when more may follow.
   */
  async page(
    collection: string,
    opts: { prefix?: Buffer; after?: Buffer; limit: number },
  ): Promise<{ items: StateItem[]; next?: Buffer }> {
    const values: Record<string, AttributeValue> = { ':p': { S: `s#${collection}` } };
    let cond = 'p = :p';
    if (opts.prefix && opts.prefix.length > 0) {
      cond += ' AND begins_with(k, :k)';
      values[':k'] = { B: opts.prefix };
    }
    const items: StateItem[] = [];
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined = opts.after
      ? { p: { S: `s#${collection}` }, k: { B: opts.after } }
      : undefined;
    // Deleted documents (no `d`) are skipped, so a page may need more than one query to fill.
    while (items.length < opts.limit) {
      const res: QueryCommandOutput = await this.opts.client.send(
        new QueryCommand({
          TableName: this.opts.table,
          KeyConditionExpression: cond,
          ExpressionAttributeValues: values,
          ExclusiveStartKey,
          Limit: opts.limit - items.length,
          ConsistentRead: true,
        }),
      );
      for (const it of res.Items ?? []) {
        this.opts.meter?.dynamoRead(dynamoItemBytes(it), true);
        if (it.d === undefined && it.r === undefined) continue; // a tombstone
        items.push(await this.resolve(collection, it));
      }
      ExclusiveStartKey = res.LastEvaluatedKey;
      if (!ExclusiveStartKey) return { items };
    }
    return { items, next: items.at(-1)?.key };
  }

  async getCheckpoint(task: string, shardId: string): Promise<string | undefined> {
    const res = await this.opts.client.send(
      new GetItemCommand({
        TableName: this.opts.table,
        Key: { p: { S: taskPartition(task) }, k: { B: Buffer.from(shardId) } },
        ConsistentRead: true,
      }),
    );
    this.opts.meter?.dynamoRead(100, true);
    return res.Item?.pos?.S;
  }

  async putCheckpoint(task: string, shardId: string, position: string): Promise<void> {
    try {
      await this.opts.client.send(
        new PutItemCommand({
          TableName: this.opts.table,
          Item: { p: { S: taskPartition(task) }, k: { B: Buffer.from(shardId) }, pos: { S: position } },
          ConditionExpression: 'attribute_not_exists(pos) OR pos < :pos',
          ExpressionAttributeValues: { ':pos': { S: position } },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    } finally {
      this.opts.meter?.dynamoWrite(200);
    }
  }

  async getWatermarks(task: string, shard: string): Promise<OriginWatermarks | undefined> {
    const res = await this.opts.client.send(
      new GetItemCommand({
        TableName: this.opts.table,
        Key: { p: { S: taskPartition(task) }, k: { B: Buffer.from(`w#${shard}`) } },
        ConsistentRead: true,
      }),
    );
    this.opts.meter?.dynamoRead(res.Item ? dynamoItemBytes(res.Item) : 100, true);
    const upTo = res.Item?.pos?.S;
    if (upTo === undefined) return undefined;
    return {
      upTo,
      marks: JSON.parse(res.Item?.w?.S ?? '{}') as Record<string, string>,
      ...(res.Item?.wu?.S ? { at: JSON.parse(res.Item.wu.S) as Record<string, number> } : {}),
    };
  }

  async putWatermarks(task: string, shard: string, marks: OriginWatermarks): Promise<void> {
    const Item = {
      p: { S: taskPartition(task) },
      k: { B: Buffer.from(`w#${shard}`) },
      pos: { S: marks.upTo },
      w: { S: canonicalApplied(marks.marks) },
      ...(marks.at ? { wu: { S: JSON.stringify(marks.at) } } : {}),
    };
    const bytes = dynamoItemBytes(Item);
    if (bytes > MAX_ITEM_BYTES)
      throw new StateError(
        'ItemTooLarge',
        taskPartition(task),
        `w#${shard}`,
        `origin watermarks of ${bytes} bytes`,
      );
    try {
      await this.opts.client.send(
        new PutItemCommand({
          TableName: this.opts.table,
          Item,
          ConditionExpression: 'attribute_not_exists(pos) OR pos < :pos',
          ExpressionAttributeValues: { ':pos': { S: marks.upTo } },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    } finally {
      this.opts.meter?.dynamoWrite(bytes);
    }
  }

  async loadDerivationState(task: string): Promise<DerivationCheckpoint | undefined> {
    const { client, table, meter } = this.opts;
    const res = await client.send(
      new GetItemCommand({
        TableName: table,
        Key: { p: { S: taskPartition(task) }, k: { B: MANIFEST_KEY } },
        ConsistentRead: true,
      }),
    );
    meter?.dynamoRead(res.Item ? dynamoItemBytes(res.Item) : 100, true);
    const text = res.Item?.m?.S;
    return text === undefined ? undefined : (JSON.parse(text) as DerivationCheckpoint);
  }

  async getPages(task: string, hashes: string[]): Promise<Map<string, Uint8Array>> {
    const { client, table, meter } = this.opts;
    const unique = [...new Set(hashes)];
    const items = await batchGet(
      client,
      table,
      unique.map((h) => ({ p: { S: taskPartition(task) }, k: { B: pageKey(h) } })),
      meter,
    );
    const out = new Map<string, Uint8Array>();
    for (const it of items) out.set(Buffer.from(it.k.B!).toString('utf8').slice(2), it.b.B!);
    for (const h of unique)
      if (!out.has(h)) throw new Error(`derivation ${task}: page ${h} is missing from the state table`);
    return out;
  }

  async putPages(task: string, pages: Map<string, Uint8Array>): Promise<void> {
    const { client, table, meter } = this.opts;
    await mapLimit([...pages], this.opts.concurrency ?? 16, async ([h, page]) => {
      const Item = { p: { S: taskPartition(task) }, k: { B: pageKey(h) }, b: { B: page } };
      await client.send(new PutItemCommand({ TableName: table, Item }));
      meter?.dynamoWrite(dynamoItemBytes(Item));
    });
  }

  async commitDerivationState(
    this: DynamoStateStore,
    task: string,
    next: DerivationCheckpoint,
    expected: number,
  ): Promise<void> {
    const { client, table, meter } = this.opts;
    const Item = {
      p: { S: taskPartition(task) },
      k: { B: MANIFEST_KEY },
      v: { N: String(next.version) },
      m: { S: JSON.stringify(next) },
    };
    const bytes = dynamoItemBytes(Item);
    if (bytes > MAX_ITEM_BYTES)
      throw new StateError(
        'ItemTooLarge',
        taskPartition(task),
        'm#state',
        `derivation state manifest of ${bytes} bytes, over DynamoDB's 400 KB item limit`,
      );
    try {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item,
          ...(expected === 0
            ? { ConditionExpression: 'attribute_not_exists(v)' }
            : {
                ConditionExpression: 'v = :v',
                ExpressionAttributeValues: { ':v': { N: String(expected) } },
              }),
        }),
      );
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException')
        throw new DerivationStateConflict(task, expected);
      throw e;
    } finally {
      meter?.dynamoWrite(bytes);
    }
  }

  async deletePages(task: string, hashes: string[]): Promise<void> {
    const { client, table, meter } = this.opts;
    await mapLimit(hashes, this.opts.concurrency ?? 16, async (h) => {
      await client.send(
        new DeleteItemCommand({
          TableName: table,
          Key: { p: { S: taskPartition(task) }, k: { B: pageKey(h) } },
        }),
      );
      meter?.dynamoWrite(100);
    });
  }
}

/** A state item as stored; a spilled document (`r`) is left undefined here and resolved by the store. */
function toStateItem(it: Record<string, AttributeValue>): StateItem {
  const item: StateItem = {
    key: Buffer.from(it.K?.B ?? it.k.B!),
    doc: it.d?.S === undefined ? undefined : (JSON.parse(it.d.S) as Json),
    applied: JSON.parse(it.a?.S ?? '{}') as Record<string, string>,
  };
  if (it.u?.S !== undefined) item.appliedAt = JSON.parse(it.u.S) as Record<string, number>;
  return item;
}

// ---------------------------------------------------------------------------------------------------
// User tables (materialize-dynamodb)

/** JSON → DynamoDB attribute value (numbers as N, objects as M, arrays as L). */
export function marshal(v: Json): AttributeValue {
  if (v === null) return { NULL: true };
  if (typeof v === 'boolean') return { BOOL: v };
  if (typeof v === 'number') return { N: String(v) };
  if (typeof v === 'string') return { S: v };
  if (Array.isArray(v)) return { L: v.map(marshal) };
  return { M: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, marshal(x)])) };
}

export function unmarshal(a: AttributeValue): Json {
  if (a.NULL) return null;
  if (a.BOOL !== undefined) return a.BOOL;
  if (a.N !== undefined) return Number(a.N);
  if (a.S !== undefined) return a.S;
  if (a.L) return a.L.map(unmarshal);
  if (a.M) return Object.fromEntries(Object.entries(a.M).map(([k, x]) => [k, unmarshal(x)]));
  if (a.B) return Buffer.from(a.B).toString('base64');
  if (a.SS) return a.SS;
  if (a.NS) return a.NS.map(Number);
  return null;
}

export type KeyAttr = { name: string; type: 'S' | 'N' | 'B' };

/** A user table addressed by plain JSON items. Conditional writes report `false` when the condition failed. */
export class DynamoTable {
  constructor(
    private readonly opts: DynamoOptions & { table: string; partitionKey: KeyAttr; sortKey?: KeyAttr },
  ) {}

  get name(): string {
    return this.opts.table;
  }

  ensure(): Promise<void> {
    return ensureTable(this.opts.client, this.opts.table, this.opts.partitionKey, this.opts.sortKey);
  }

  async batchGet(keys: Record<string, Json>[]): Promise<Record<string, Json>[]> {
    const items = await batchGet(
      this.opts.client,
      this.opts.table,
      keys.map((k) => Object.fromEntries(Object.entries(k).map(([n, v]) => [n, marshal(v)]))),
      this.opts.meter,
    );
    return items.map((it) => Object.fromEntries(Object.entries(it).map(([n, v]) => [n, unmarshal(v)])));
  }

  /** Put an item; when `condition` is given, only if attribute `condition.attr` equals the value or is absent when undefined. */
  async put(
    item: Record<string, Json>,
    condition?: { attr: string; equals: Json | undefined },
  ): Promise<boolean> {
    const Item = Object.fromEntries(Object.entries(item).map(([n, v]) => [n, marshal(v)]));
    const bytes = dynamoItemBytes(Item);
    if (bytes > MAX_ITEM_BYTES) throw new Error(`item of ${bytes} bytes exceeds DynamoDB's 400 KB limit`);
    try {
      await this.opts.client.send(
        new PutItemCommand({ TableName: this.opts.table, Item, ...conditionOf(condition) }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    } finally {
      this.opts.meter?.dynamoWrite(bytes);
    }
  }

  async delete(
    key: Record<string, Json>,
    condition?: { attr: string; equals: Json | undefined },
  ): Promise<boolean> {
    try {
      await this.opts.client.send(
        new DeleteItemCommand({
          TableName: this.opts.table,
          Key: Object.fromEntries(Object.entries(key).map(([n, v]) => [n, marshal(v)])),
          ...conditionOf(condition),
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return false;
      throw e;
    } finally {
      this.opts.meter?.dynamoWrite(1024);
    }
  }

  async scanAll(): Promise<Record<string, Json>[]> {
    const out: Record<string, Json>[] = [];
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const res = await this.opts.client.send(
        new ScanCommand({ TableName: this.opts.table, ExclusiveStartKey, ConsistentRead: true }),
      );
      for (const it of res.Items ?? [])
        out.push(Object.fromEntries(Object.entries(it).map(([n, v]) => [n, unmarshal(v)])));
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return out;
  }
}

function conditionOf(c: { attr: string; equals: Json | undefined } | undefined) {
  if (!c) return {};
  if (c.equals === undefined)
    return { ConditionExpression: 'attribute_not_exists(#c)', ExpressionAttributeNames: { '#c': c.attr } };
  return {
    ConditionExpression: '#c = :c',
    ExpressionAttributeNames: { '#c': c.attr },
    ExpressionAttributeValues: { ':c': marshal(c.equals) },
  };
}
