/**
 * materialize-dynamodb: standard updates into user tables (Estuary's connector of the same name).
 *
 * Config: `{region?, awsAccessKeyId?, awsSecretAccessKey?, advanced?: {endpoint?}}` (the client is made by
 * the caller from these or the environment). Resource: `{table}`.
 * Table: the first collection key component is the partition key, the second (if any) the sort key,
 * named by the collection's projection of that location (else the pointer's last token); string keys are
 * S, numeric keys N, booleans stored as S. Items: the key attributes, every top-level property of the
 * document, and `flow_document` (the whole reduced document).
 *
 * Exactly once without transactions (DynamoDB): each item also holds `_sluice_applied`, the per-source
 * positions folded into it (canonical JSON text). The task loads them (`loadApplied`), folds only newer
 * documents, and every write is conditional on `_sluice_applied` being what was loaded. A document
 * deleted by a full reduction is deleted from the user table (DeleteItem, conditional on the loaded
 * `_sluice_applied`); its positions are kept as a tombstone in Sluice's state table (`stateTable`: item
 * p = `c#materialization:<name>`, k = `t#<binding>#<key JSON>`), so that a replay of older documents cannot
 * resurrect it. The materialization's checkpoint (per source shard, backfill markers) lives in the state
 * table too, one item per checkpoint key (k = `cp#<key>`), never moving backwards.
 */
import { BatchGetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  type DynamoOptions,
  DynamoStateStore,
  DynamoTable,
  type KeyAttr,
  mapLimit,
} from '../adapters/dynamodb.ts';
import type { BuiltCatalog, CollectionSpec } from '../catalog/model.ts';
import { parsePointer } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type {
  AppliedDoc,
  Checkpoint,
  MaterializeConnector,
  MaterializeConnectorContext,
  MaterializeTransaction,
} from '../materialize/connector.ts';
import { stateTaskId, taskPartition } from '../ports/state-partitions.ts';
import type { UsageMeter } from '../ports/usage.ts';

export const APPLIED_ATTR = '_sluice_applied';
export const DELETED_ATTR = '_sluice_deleted';
export const DOCUMENT_ATTR = 'flow_document';
/** Sort-key prefix of checkpoint items in the state table (tombstones: `t#<binding>#<key JSON>`). */
const CHECKPOINT_K = 'cp#';

export class DynamoConnectorError extends Error {
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
  table?: DynamoTable;
}

function canonical(c: Checkpoint): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

function fieldName(collection: CollectionSpec, ptr: string): string {
  for (const [field, p] of Object.entries(collection.projections)) if (p.location === ptr) return field;
  const tokens = parsePointer(ptr);
  return String(tokens[tokens.length - 1] ?? 'key');
}

function keyValue(v: Json): Json {
  return typeof v === 'boolean' ? String(v) : v;
}

export class DynamoDbConnector implements MaterializeConnector {
  private readonly tables: BindingTable[];

  constructor(
    private readonly ctx: MaterializeConnectorContext & {
      catalog: BuiltCatalog;
      client: DynamoOptions['client'];
      meter?: UsageMeter;
      /** Prefix prepended to table names (tests and local isolation); default none. */
      tablePrefix?: string;
      /** Sluice's state table: checkpoints (per source shard, backfill markers) of this materialization. */
      stateTable?: string;
    },
  ) {
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
        keyNames: collection.key.map((p) => fieldName(collection, p)),
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
    const table = this.ctx.stateTable;
    if (!table) return { checkpoint: {} };
    const checkpoint: Checkpoint = {};
    let ExclusiveStartKey: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
    do {
      const res = await this.ctx.client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'p = :p AND begins_with(k, :cp)',
          ExpressionAttributeValues: {
            ':p': { S: taskPartition(this.checkpointTask) },
            ':cp': { B: Buffer.from(CHECKPOINT_K) },
          },
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const it of res.Items ?? []) {
        const k = it.k?.B;
        const pos = it.pos?.S;
        if (k && pos !== undefined) checkpoint[Buffer.from(k).toString().slice(CHECKPOINT_K.length)] = pos;
      }
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return { checkpoint };
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

  private async putTombstone(binding: number, key: Json[], applied: Checkpoint): Promise<void> {
    const table = this.ctx.stateTable;
    if (!table) return;
    await this.ctx.client.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          p: { S: taskPartition(this.checkpointTask) },
          k: { B: this.tombstoneK(binding, key) },
          applied: { S: canonical(applied) },
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
    for (const item of await table.batchGet(keys.map((k) => this.keyItem(binding, k)))) {
      const original = byItemKey.get(JSON.stringify(names.map((n) => item[n])));
      if (!original) continue;
      const applied =
        typeof item[APPLIED_ATTR] === 'string' ? (JSON.parse(item[APPLIED_ATTR]) as Checkpoint) : {};
      out.set(JSON.stringify(original), {
        doc: item[DELETED_ATTR] === true ? undefined : (item[DOCUMENT_ATTR] ?? null),
        applied,
      });
    }
    const missing = keys.filter((k) => !out.has(JSON.stringify(k)));
    for (const [k, applied] of await this.tombstones(binding, missing))
      out.set(k, { doc: undefined, applied });
    return out;
  }

  async commit(txn: MaterializeTransaction): Promise<void> {
    for (const { binding, docs } of txn.bindings) {
      if (docs.length === 0) continue;
      const table = await this.table(binding, docs[0].key);
      const results = await mapLimit(docs, 16, async (d) => {
        const item: Record<string, Json> = {};
        if (!d.deleted && isObject(d.doc))
          for (const [k, v] of Object.entries(d.doc as JsonObject)) if (k !== DOCUMENT_ATTR) item[k] = v;
        Object.assign(item, this.keyItem(binding, d.key));
        item[DOCUMENT_ATTR] = d.doc;
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
          if (ok && d.applied !== undefined) await this.putTombstone(binding, d.key, d.applied);
          return ok;
        }
        if (d.applied !== undefined) item[APPLIED_ATTR] = canonical(d.applied);
        return table.put(item, condition);
      });
      const failed = results.filter((ok) => !ok).length;
      if (failed > 0)
        throw new DynamoConnectorError(
          'ConditionFailed',
          this.ctx.spec.name,
          binding,
          `${failed} of ${docs.length} conditional writes lost to a concurrent writer; the batch will be retried`,
        );
    }
    // After the items: the checkpoint (a replay up to it changes nothing, the items' positions guard it).
    if (this.ctx.stateTable) {
      const store = new DynamoStateStore({ client: this.ctx.client, table: this.ctx.stateTable });
      for (const [k, pos] of Object.entries(txn.checkpoint))
        await store.putCheckpoint(this.checkpointTask, `${CHECKPOINT_K}${k}`, pos);
      this.ctx.meter?.dynamoWrite(200 * Object.keys(txn.checkpoint).length);
    }
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
    return (await table.scanAll()).filter((i) => i[DELETED_ATTR] !== true);
  }
}
