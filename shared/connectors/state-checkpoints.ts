/**
 * A materialization's checkpoint (positions per source shard, backfill markers) in Sluice's state table,
 * for connectors whose destination cannot hold it: materialize-dynamodb (beside its conditional item
 * writes) and materialize-webhook (an endpoint has no state to read back; without this, every cold start
 * saw no backfill marker and POSTed the collection's whole history again).
 *
 * Items: p = `c#materialization:<name>` (the one partition the function's IAM policy allows),
 * k = `cp#<key>`, `pos` = the position; never moving backwards (conditional UpdateItem). A key
 * `<base>#<suffix>` committed together with `<base>` (a backfilled binding's own position
 * `<collection>/<shard>#<binding>@<backfill>` beside the shard's shared position) is an attribute
 * `o#<suffix>` of the item `cp#<base>`: a live batch costs one checkpoint write, not one per key. Items
 * of the earlier layout (one per key) still read.
 */
import { type AttributeValue, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoOptions } from '../adapters/dynamodb.ts';
import type { Checkpoint } from '../materialize/connector.ts';
import { stateTaskId, taskPartition } from '../ports/state-partitions.ts';
import { dynamoItemBytes, type UsageMeter } from '../ports/usage.ts';

/** Sort-key prefix of checkpoint items in the state table (materialize-dynamodb's tombstones: `t#…`). */
const CHECKPOINT_K = 'cp#';
/** Prefix of the attributes of a checkpoint item `cp#<base>` that hold the keys `<base>#<suffix>`. */
const PACKED_ATTR = 'o#';

/** The later of two positions (positions compare as strings: sequence numbers are zero-padded). */
function later(a: string | undefined, b: string): string {
  return a !== undefined && a > b ? a : b;
}

/**
 * A commit's checkpoint as the items that store it: `<base>` → its keys (`''` the base key itself,
 * else the suffix after `<base>#`). A key joins its base's item only when the base is in the same commit.
 */
export function checkpointItems(checkpoint: Checkpoint): Map<string, Map<string, string>> {
  const items = new Map<string, Map<string, string>>();
  const item = (base: string) => {
    const it = items.get(base) ?? new Map<string, string>();
    items.set(base, it);
    return it;
  };
  for (const [key, pos] of Object.entries(checkpoint)) {
    const hash = key.indexOf('#');
    const base = hash > 0 ? key.slice(0, hash) : undefined;
    if (base !== undefined && base in checkpoint) item(base).set(key.slice(hash + 1), pos);
    else item(key).set('', pos);
  }
  return items;
}

export class StateTableCheckpoints {
  constructor(
    private readonly o: {
      client: DynamoOptions['client'];
      /** Sluice's state table. */
      table: string;
      materialization: string;
      meter?: UsageMeter;
    },
  ) {}

  private get partition(): string {
    return taskPartition(stateTaskId('materialization', this.o.materialization));
  }

  /** The committed checkpoint (consistent read). */
  async load(): Promise<Checkpoint> {
    const checkpoint: Checkpoint = {};
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const res = await this.o.client.send(
        new QueryCommand({
          TableName: this.o.table,
          KeyConditionExpression: 'p = :p AND begins_with(k, :cp)',
          ExpressionAttributeValues: {
            ':p': { S: this.partition },
            ':cp': { B: Buffer.from(CHECKPOINT_K) },
          },
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      for (const it of res.Items ?? []) {
        const k = it.k?.B;
        if (!k) continue;
        const base = Buffer.from(k).toString().slice(CHECKPOINT_K.length);
        // A key may be in both layouts (its own item, then an attribute): the later position wins.
        if (it.pos?.S !== undefined) checkpoint[base] = later(checkpoint[base], it.pos.S);
        for (const [name, v] of Object.entries(it)) {
          if (!name.startsWith(PACKED_ATTR) || v.S === undefined) continue;
          const key = `${base}#${name.slice(PACKED_ATTR.length)}`;
          checkpoint[key] = later(checkpoint[key], v.S);
        }
      }
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return checkpoint;
  }

  /** Write a commit's positions (each only forward). */
  async save(checkpoint: Checkpoint): Promise<void> {
    for (const [base, attrs] of checkpointItems(checkpoint)) await this.putItem(base, attrs);
  }

  /**
   * One checkpoint item: every position in one conditional UpdateItem (each attribute only forward;
   * attributes not in this commit are left as they are). When one of them would move backwards (a
   * concurrent or stale writer got further), each is written on its own, so the others still advance.
   */
  private async putItem(base: string, attrs: Map<string, string>): Promise<void> {
    const attrName = (suffix: string) => (suffix === '' ? 'pos' : `${PACKED_ATTR}${suffix}`);
    const update = async (entries: [string, string][]): Promise<boolean> => {
      const Key = {
        p: { S: this.partition },
        k: { B: Buffer.from(`${CHECKPOINT_K}${base}`) },
      };
      const names: Record<string, string> = {};
      const values: Record<string, AttributeValue> = {};
      const written: Record<string, AttributeValue> = { ...Key };
      const sets: string[] = [];
      const conds: string[] = [];
      entries.forEach(([suffix, pos], i) => {
        names[`#a${i}`] = attrName(suffix);
        values[`:v${i}`] = { S: pos };
        written[attrName(suffix)] = { S: pos };
        sets.push(`#a${i} = :v${i}`);
        conds.push(`(attribute_not_exists(#a${i}) OR #a${i} <= :v${i})`);
      });
      try {
        await this.o.client.send(
          new UpdateItemCommand({
            TableName: this.o.table,
            Key,
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: conds.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return true;
      } catch (e) {
        if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
        return false;
      } finally {
        // What this write holds of the item (attributes it leaves alone are not counted).
        this.o.meter?.dynamoWrite(dynamoItemBytes(written));
      }
    };
    const entries = [...attrs];
    if ((await update(entries)) || entries.length === 1) return;
    for (const e of entries) await update([e]);
  }
}
