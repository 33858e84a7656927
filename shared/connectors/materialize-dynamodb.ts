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
 * deleted by a full reduction leaves a tombstone item (key attributes, `_sluice_applied`,
 * `_sluice_deleted: true`, no document), so that a replay of older documents cannot resurrect it.
 */
import { type DynamoOptions, DynamoTable, type KeyAttr, mapLimit } from '../adapters/dynamodb.ts';
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
import type { UsageMeter } from '../ports/usage.ts';

export const APPLIED_ATTR = '_sluice_applied';
export const DELETED_ATTR = '_sluice_deleted';
export const DOCUMENT_ATTR = 'flow_document';

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

  async open(): Promise<{ checkpoint: Checkpoint }> {
    return { checkpoint: {} };
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
        if (d.deleted) item[DELETED_ATTR] = true;
        else item[DOCUMENT_ATTR] = d.doc;
        const condition =
          d.applied !== undefined
            ? {
                attr: APPLIED_ATTR,
                equals: d.expectedApplied === undefined ? undefined : canonical(d.expectedApplied),
              }
            : undefined;
        if (d.applied !== undefined) item[APPLIED_ATTR] = canonical(d.applied);
        else if (d.deleted) return table.delete(this.keyItem(binding, d.key));
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
