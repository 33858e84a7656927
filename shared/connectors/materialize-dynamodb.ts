/**
 * materialize-dynamodb: standard updates into user tables (Estuary's connector of the same name).
 *
 * Config: `{region?, awsAccessKeyId?, awsSecretAccessKey?, advanced?: {endpoint?}}` (the client is made by
 * the caller from these or the environment). Resource: `{table}`.
 * Table: the first collection key component is the partition key, the second (if any) the sort key,
 * named by the collection's projection of that location (else the pointer's last token); string keys are
 * S, numeric keys N, booleans stored as S. Items: the key attributes, the binding's selected fields
 * (fields.ts: `fields: {recommended, include, exclude}`, as in Estuary's connector; a field absent from
 * the document is left out), and `flow_document` (the whole reduced document).
 *
 * Exactly once without transactions (DynamoDB): each item also holds `_sluice_applied`, the per-source
 * positions folded into it (canonical JSON text). The task loads them (`loadApplied`), folds only newer
 * documents, and every write is conditional on `_sluice_applied` being what was loaded. A document
 * deleted by a full reduction is deleted from the user table (DeleteItem, conditional on the loaded
 * `_sluice_applied`); its positions are kept as a tombstone in Sluice's state table (`stateTable`: item
 * p = `c#materialization:<name>`, k = `t#<binding>#<key JSON>`), so that a replay of older documents cannot
 * resurrect it. The materialization's checkpoint (per source shard, backfill markers) lives in the state
 * table too (k = `cp#<key>`), never moving backwards. A key `<base>#<suffix>` committed together with
 * `<base>` (a backfilled binding's own position `<collection>/<shard>#<binding>@<backfill>` beside the
 * shard's shared position) is an attribute `o#<suffix>` of the item `cp#<base>`: a live batch then costs
 * one checkpoint write, not one per key (at low rates, with a batch per document, that was a third of
 * the materialization's writes). Items of the earlier layout (one per key) still read.
 *
 * Tombstones carry `ttl` (the state table's TTL attribute) when `tombstoneTtlSeconds` is set: a day past
 * the last moment the sources' streams can deliver the key's documents again (infra replayHours); a
 * re-backfill that meets neither item nor tombstone folds the key's whole history again from nothing,
 * so it ends deleted again rather than resurrected half-way. With `appliedHorizonSeconds` (infra sets it
 * only when the sources' fragments expire: a re-backfill replays fragments), `_sluice_applied_at` holds
 * when each entry of `_sluice_applied` last moved, and entries past the horizon are pruned on write
 * (ports/state.ts pruneApplied).
 *
 * Items too large for DynamoDB (over SPILL_ITEM_BYTES; a growing `append` or `set`): the whole document
 * is written to S3 first (`spill`: content addressed, `_sluice/spill/materialization/<name>/<sha256>.json`,
 * so a retried or fenced write never changes an object a pointer names), and the item holds the key, the
 * fields that fit (smallest first), `_sluice_applied` and `_sluice_document_ref` = `s3://<bucket>/<key>`
 * instead of `flow_document`. Readers of the table: when `_sluice_document_ref` is present, the document
 * is that object (fields missing from the item are in it); `loadApplied` and `items` resolve it.
 */
import { BatchGetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type BlobsOf,
  type DynamoOptions,
  DynamoTable,
  type KeyAttr,
  mapLimit,
  marshal,
  readSpilled,
  SPILL_ITEM_BYTES,
  spillDocument,
} from '../adapters/dynamodb.ts';
import type { BuiltCatalog, CollectionSpec } from '../catalog/model.ts';
import { SluiceError } from '../errors.ts';
import { isObject, type Json } from '../json/types.ts';
import type {
  AppliedDoc,
  Checkpoint,
  MaterializeConnector,
  MaterializeConnectorContext,
  MaterializeTransaction,
  StoreDoc,
} from '../materialize/connector.ts';
import { pruneApplied, stampApplied } from '../ports/state.ts';
import { spillPrefix, stateTaskId, taskPartition } from '../ports/state-partitions.ts';
import { dynamoItemBytes, type UsageMeter } from '../ports/usage.ts';
import { fieldValue, keyAttributeName, selectFields } from './fields.ts';
import { checkpointItems, StateTableCheckpoints } from './state-checkpoints.ts';

export const APPLIED_ATTR = '_sluice_applied';
export const DELETED_ATTR = '_sluice_deleted';
export const DOCUMENT_ATTR = 'flow_document';
/** `s3://<bucket>/<key>` of the document when the item was too large for DynamoDB (then no `flow_document`). */
export const DOCUMENT_REF_ATTR = '_sluice_document_ref';
/** When each entry of `_sluice_applied` last moved (epoch seconds, JSON text), when pruning is on. */
export const APPLIED_AT_ATTR = '_sluice_applied_at';
export { checkpointItems };

export class DynamoConnectorError extends SluiceError {
  readonly code: 'BadResource' | 'UnsupportedKey' | 'ConditionFailed';
  constructor(
    code: DynamoConnectorError['code'],
    readonly materialization: string,
    readonly binding: number,
    message: string,
  ) {
    super(`materialize-dynamodb ${materialization} binding ${binding}: ${message}`);
    this.name = 'DynamoConnectorError';
    this.code = code;
  }
}

interface BindingTable {
  collection: CollectionSpec;
  tableName: string;
  keyNames: string[];
  /** The binding's selected fields other than the key (`fields: {recommended, include, exclude}`): attributes. */
  values: { name: string; pointer: string }[];
  table?: DynamoTable;
}

function canonical(c: Checkpoint): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

function keyValue(v: Json): Json {
  return typeof v === 'boolean' ? String(v) : v;
}

export class DynamoDbConnector implements MaterializeConnector {
  private readonly tables: BindingTable[];
  /** `_sluice_applied_at` of the items loadApplied loaded (`<binding>|<key JSON>`), for the commit that follows. */
  private readonly loadedAt = new Map<string, Record<string, number>>();
  /** The materialization's checkpoint, in the state table (none without one). */
  private readonly checkpoints: StateTableCheckpoints | undefined;

  constructor(
    private readonly ctx: MaterializeConnectorContext & {
      catalog: BuiltCatalog;
      client: DynamoOptions['client'];
      meter?: UsageMeter;
      /** Prefix prepended to table names (tests and local isolation); default none. */
      tablePrefix?: string;
      /** Sluice's state table: checkpoints (per source shard, backfill markers) of this materialization. */
      stateTable?: string;
      /** Where items too large for DynamoDB keep their document (the default bucket); undefined: never spilled. */
      spillBucket?: string;
      /** S3 access by bucket: writes spilled documents and reads them back through pointers. */
      blobs?: BlobsOf;
      /** Tombstones expire (state table TTL attribute `ttl`) this long after they are written. */
      tombstoneTtlSeconds?: number;
      /** `_sluice_applied` entries that have not moved for this long are pruned (undefined: never). */
      appliedHorizonSeconds?: number;
      /** Seconds since epoch (tests). */
      nowSeconds?: () => number;
    },
  ) {
    this.checkpoints = ctx.stateTable
      ? new StateTableCheckpoints({
          client: ctx.client,
          table: ctx.stateTable,
          materialization: ctx.spec.name,
          meter: ctx.meter,
        })
      : undefined;
    this.tables = ctx.spec.bindings.map((b, i) => {
      const collection = ctx.catalog.collections[b.source.name];
      const table = isObject(b.resource) ? b.resource.table : undefined;
      if (typeof table !== 'string' || !/^[a-zA-Z0-9_.-]{3,255}$/.test(table))
        throw new DynamoConnectorError(
          'BadResource',
          ctx.spec.name,
          i,
          `resource.table must be a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -), got ${JSON.stringify(table ?? null)}`,
        );
      if (collection.key.length > 2)
        throw new DynamoConnectorError(
          'UnsupportedKey',
          ctx.spec.name,
          i,
          `collection ${collection.name} has ${collection.key.length} key components; DynamoDB allows a partition and a sort key`,
        );
      return {
        collection,
        tableName: `${ctx.tablePrefix ?? ''}${table}`,
        keyNames: collection.key.map((p) => keyAttributeName(collection, p)),
        values: selectFields(ctx.catalog, collection, b)
          .filter((f) => !f.isKey)
          .map((f) => ({ name: f.name, pointer: f.pointer })),
      };
    });
  }

  /** Tables are created on first use, when the key's value types are known. */
  async apply(): Promise<void> {}

  /** Its id in the state table (`materialization:<name>`; partition `c#materialization:<name>`, the one its IAM policy allows). */
  private get checkpointTask(): string {
    return stateTaskId('materialization', this.ctx.spec.name);
  }

  async open(): Promise<{ checkpoint: Checkpoint }> {
    return { checkpoint: (await this.checkpoints?.load()) ?? {} };
  }

  private tombstoneK(binding: number, key: Json[]): Uint8Array {
    return Buffer.from(`t#${binding}#${JSON.stringify(key)}`);
  }

  /** Tombstones (positions of deleted documents) of these keys, from the state table. */
  private async tombstones(binding: number, keys: Json[][]): Promise<Map<string, Checkpoint>> {
    const out = new Map<string, Checkpoint>();
    const table = this.ctx.stateTable;
    if (!table || keys.length === 0) return out;
    for (let i = 0; i < keys.length; i += 100) {
      let request: import('@aws-sdk/client-dynamodb').KeysAndAttributes | undefined = {
        Keys: keys.slice(i, i + 100).map((k) => ({
          p: { S: taskPartition(this.checkpointTask) },
          k: { B: this.tombstoneK(binding, k) },
        })),
        ConsistentRead: true,
      };
      while (request?.Keys?.length) {
        const res: import('@aws-sdk/client-dynamodb').BatchGetItemCommandOutput = await this.ctx.client.send(
          new BatchGetItemCommand({ RequestItems: { [table]: request } }),
        );
        for (const it of res.Responses?.[table] ?? []) {
          const k = it.k?.B;
          const applied = it.applied?.S;
          if (k && applied)
            out.set(
              Buffer.from(k).toString().slice(`t#${binding}#`.length),
              JSON.parse(applied) as Checkpoint,
            );
        }
        request = res.UnprocessedKeys?.[table];
      }
    }
    this.ctx.meter?.dynamoRead(100 * keys.length, true);
    return out;
  }

  private now(): number {
    return this.ctx.nowSeconds?.() ?? Math.floor(Date.now() / 1000);
  }

  private async putTombstone(binding: number, key: Json[], applied: Checkpoint): Promise<void> {
    const table = this.ctx.stateTable;
    if (!table) return;
    const ttl = this.ctx.tombstoneTtlSeconds;
    await this.ctx.client.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          p: { S: taskPartition(this.checkpointTask) },
          k: { B: this.tombstoneK(binding, key) },
          applied: { S: canonical(applied) },
          // Safe to forget once no redelivery can reach the key (see the file's comment and infra).
          ...(ttl !== undefined ? { ttl: { N: String(this.now() + ttl) } } : {}),
        },
      }),
    );
    this.ctx.meter?.dynamoWrite(200);
  }

  private async table(binding: number, sample: Json[]): Promise<DynamoTable> {
    const t = this.tables[binding];
    if (t.table) return t.table;
    const attr = (name: string, v: Json): KeyAttr => ({ name, type: typeof v === 'number' ? 'N' : 'S' });
    const table = new DynamoTable({
      client: this.ctx.client,
      meter: this.ctx.meter,
      table: t.tableName,
      partitionKey: attr(t.keyNames[0], sample[0]),
      sortKey: t.keyNames.length > 1 ? attr(t.keyNames[1], sample[1]) : undefined,
    });
    await table.ensure();
    t.table = table;
    return table;
  }

  private keyItem(binding: number, key: Json[]): Record<string, Json> {
    const names = this.tables[binding].keyNames;
    return Object.fromEntries(names.map((n, i) => [n, keyValue(key[i])]));
  }

  async load(binding: number, keys: Json[][]): Promise<Map<string, Json>> {
    const out = new Map<string, Json>();
    for (const [k, v] of await this.loadApplied(binding, keys)) if (v.doc !== undefined) out.set(k, v.doc);
    return out;
  }

  async loadApplied(binding: number, keys: Json[][]): Promise<Map<string, AppliedDoc>> {
    const out = new Map<string, AppliedDoc>();
    if (keys.length === 0) return out;
    const table = await this.table(binding, keys[0]);
    const names = this.tables[binding].keyNames;
    const byItemKey = new Map(keys.map((k) => [JSON.stringify(names.map((_, i) => keyValue(k[i]))), k]));
    const items = await table.batchGet(keys.map((k) => this.keyItem(binding, k)));
    await mapLimit(items, 16, async (item) => {
      const original = byItemKey.get(JSON.stringify(names.map((n) => item[n])));
      if (!original) return;
      const applied =
        typeof item[APPLIED_ATTR] === 'string' ? (JSON.parse(item[APPLIED_ATTR]) as Checkpoint) : {};
      const id = JSON.stringify(original);
      if (typeof item[APPLIED_AT_ATTR] === 'string')
        this.loadedAt.set(`${binding}|${id}`, JSON.parse(item[APPLIED_AT_ATTR]) as Record<string, number>);
      else this.loadedAt.delete(`${binding}|${id}`);
      out.set(id, {
        doc: item[DELETED_ATTR] === true ? undefined : await this.documentOf(binding, item),
        applied,
      });
    });
    const missing = keys.filter((k) => !out.has(JSON.stringify(k)));
    for (const [k, applied] of await this.tombstones(binding, missing))
      out.set(k, { doc: undefined, applied });
    return out;
  }

  /** The document of a live item: `flow_document`, or the spilled object its pointer names. */
  private async documentOf(binding: number, item: Record<string, Json>): Promise<Json> {
    const ref = item[DOCUMENT_REF_ATTR];
    if (typeof ref !== 'string') return item[DOCUMENT_ATTR] ?? null;
    return readSpilled(
      this.ctx.blobs,
      ref,
      `${this.ctx.spec.name} binding ${binding}`,
      JSON.stringify(this.tables[binding].keyNames.map((n) => item[n] ?? null)),
    );
  }

  /**
   * The item to put for a document: key, fields, `flow_document`; when that is too large for DynamoDB
   * and a spill bucket is set, the document goes to S3 and the item keeps the key, `meta` (positions),
   * the pointer and the fields that fit, smallest first (deterministic: by size, then name).
   */
  private async itemOf(
    binding: number,
    key: Json[],
    doc: Json,
    meta: Record<string, Json>,
  ): Promise<Record<string, Json>> {
    // The binding's selected fields, as Estuary's connector writes them (a field the document does not
    // have is left out rather than stored as NULL).
    const fields: Record<string, Json> = {};
    for (const f of this.tables[binding].values) {
      if (f.name === DOCUMENT_ATTR) continue;
      const v = fieldValue(doc, f);
      if (v !== undefined) fields[f.name] = v;
    }
    const keys = this.keyItem(binding, key);
    const item: Record<string, Json> = { ...fields, ...keys, [DOCUMENT_ATTR]: doc, ...meta };
    const bucket = this.ctx.spillBucket;
    if (bucket === undefined || !this.ctx.blobs || bytesOf(item) <= SPILL_ITEM_BYTES) return item;
    const text = JSON.stringify(doc);
    const prefix = spillPrefix({ materialization: this.ctx.spec.name });
    const ref = await spillDocument(this.ctx.blobs(bucket), bucket, prefix, text);
    const spilled: Record<string, Json> = { ...keys, ...meta, [DOCUMENT_REF_ATTR]: ref };
    let size = bytesOf(spilled);
    const candidates = Object.entries(fields)
      .filter(([k]) => !(k in spilled))
      .map(([k, v]) => ({ k, v, n: bytesOf({ [k]: v }) }))
      .sort((a, b) => a.n - b.n || (a.k < b.k ? -1 : 1));
    for (const c of candidates) {
      if (size + c.n > SPILL_ITEM_BYTES) break;
      spilled[c.k] = c.v;
      size += c.n;
    }
    return spilled;
  }

  async commit(txn: MaterializeTransaction): Promise<void> {
    for (const { binding, docs } of txn.bindings) {
      if (docs.length === 0) continue;
      const table = await this.table(binding, docs[0].key);
      // Keys are written concurrently, a key's documents one after the other, in order: a delta-updates
      // binding may hold several of one key (a deletion, then the key created again), and a write whose
      // answer was lost is sent again by the SDK — sent concurrently, the deletion re-sent could land
      // after the creation and leave the item deleted.
      const byKey = new Map<string, StoreDoc[]>();
      for (const d of docs) {
        const k = JSON.stringify(d.key);
        const same = byKey.get(k);
        if (same) same.push(d);
        else byKey.set(k, [d]);
      }
      const write = async (d: StoreDoc): Promise<boolean> => {
        const loadedAt = this.loadedAt.get(`${binding}|${JSON.stringify(d.key)}`);
        let applied = d.applied;
        let at: Record<string, number> | undefined;
        if (applied !== undefined && this.ctx.appliedHorizonSeconds !== undefined) {
          const now = this.now();
          // Times of a tombstone's entries are not kept (it expires sooner): they count from now.
          const before = d.exists ? loadedAt : undefined;
          const pruned = pruneApplied(
            applied,
            stampApplied(applied, d.expectedApplied, before, now),
            now,
            this.ctx.appliedHorizonSeconds,
          );
          applied = pruned.applied;
          at = pruned.at;
        }
        // The user item's positions are what was loaded only when the item was live in the table (a
        // tombstone's positions live in the state table): otherwise the item must still be absent.
        const condition =
          d.applied !== undefined
            ? {
                attr: APPLIED_ATTR,
                equals:
                  d.expectedApplied === undefined || !d.exists ? undefined : canonical(d.expectedApplied),
              }
            : undefined;
        if (d.deleted) {
          // A full-reduction delete: the item goes away for real; the positions stay as a tombstone in
          // Sluice's state table, so a stale replay cannot resurrect it.
          const ok = d.exists ? await table.delete(this.keyItem(binding, d.key), condition) : true;
          if (ok && applied !== undefined) await this.putTombstone(binding, d.key, applied);
          return ok;
        }
        const meta: Record<string, Json> = {};
        if (applied !== undefined) meta[APPLIED_ATTR] = canonical(applied);
        if (at !== undefined) meta[APPLIED_AT_ATTR] = JSON.stringify(at);
        return table.put(await this.itemOf(binding, d.key, d.doc, meta), condition);
      };
      const writeKey = async (same: StoreDoc[]) => {
        const oks: boolean[] = [];
        for (const d of same) oks.push(await write(d));
        return oks;
      };
      const results = (await mapLimit([...byKey.values()], 16, writeKey)).flat();
      const failed = results.filter((ok) => !ok).length;
      if (failed > 0)
        throw new DynamoConnectorError(
          'ConditionFailed',
          this.ctx.spec.name,
          binding,
          `${failed} of ${docs.length} conditional writes lost to a concurrent writer; the batch will be retried`,
        );
    }
    // Loaded times served this commit; a retry loads again.
    this.loadedAt.clear();
    // After the items: the checkpoint (a replay up to it changes nothing, the items' positions guard it).
    await this.checkpoints?.save(txn.checkpoint);
  }

  async close(): Promise<void> {}

  /** Every live item of a binding's table (tests and `sluice read` of a materialization). */
  async items(binding: number): Promise<Record<string, Json>[]> {
    const t = this.tables[binding];
    const table =
      t.table ??
      new DynamoTable({
        client: this.ctx.client,
        table: t.tableName,
        partitionKey: { name: t.keyNames[0], type: 'S' },
      });
    const live = (await table.scanAll()).filter((i) => i[DELETED_ATTR] !== true);
    // A spilled item reads as the document it points at: `flow_document` resolved.
    return mapLimit(live, 16, async (i) =>
      typeof i[DOCUMENT_REF_ATTR] === 'string'
        ? { ...i, [DOCUMENT_ATTR]: await this.documentOf(binding, i) }
        : i,
    );
  }
}

/** An item's size as DynamoDB counts it (attribute names and values). */
function bytesOf(item: Record<string, Json>): number {
  return dynamoItemBytes(Object.fromEntries(Object.entries(item).map(([k, v]) => [k, marshal(v)])));
}
