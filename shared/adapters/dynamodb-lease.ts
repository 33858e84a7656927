/**
 * The backfill lease (shared/backfill/lease.ts) in the state table, inside the materialization's own
 * partition (p = `c#materialization:<name>`, k = `bf#lease`), so the function's IAM stays confined to
 * that partition (dynamodb:LeadingKeys). Attributes: `owner` (S), `exp` (N, ms since epoch).
 *
 * Taking or renewing it is one conditional PutItem: it succeeds when there is no lease, when the lease
 * has expired, or when this owner holds it. Expiry is judged by the writer's clock (Lambda's clocks are
 * NTP-synchronized; the TTL is far larger than any skew). Releasing is a DeleteItem conditional on the owner.
 */
import { DeleteItemCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { BackfillLease } from '../backfill/lease.ts';
import { stateTaskId, taskPartition } from '../ports/state-partitions.ts';

const LEASE_K = Buffer.from('bf#lease');

function conditionFailed(e: unknown): boolean {
  return (e as Error).name === 'ConditionalCheckFailedException';
}

export class DynamoBackfillLease implements BackfillLease {
  private readonly key;

  constructor(
    private readonly o: {
      client: DynamoDBClient;
      /** The state table (SLUICE_STATE_TABLE). */
      table: string;
      materialization: string;
      /** ms since epoch (tests). */
      now?: () => number;
    },
  ) {
    this.key = {
      p: { S: taskPartition(stateTaskId('materialization', o.materialization)) },
      k: { B: LEASE_K },
    };
  }

  async acquire(owner: string, ttlMs: number): Promise<boolean> {
    const now = (this.o.now ?? Date.now)();
    try {
      await this.o.client.send(
        new PutItemCommand({
          TableName: this.o.table,
          Item: { ...this.key, owner: { S: owner }, exp: { N: String(now + ttlMs) } },
          ConditionExpression: 'attribute_not_exists(k) OR #owner = :owner OR #exp < :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#exp': 'exp' },
          ExpressionAttributeValues: { ':owner': { S: owner }, ':now': { N: String(now) } },
        }),
      );
      return true;
    } catch (e) {
      if (conditionFailed(e)) return false;
      throw e;
    }
  }

  async release(owner: string): Promise<void> {
    try {
      await this.o.client.send(
        new DeleteItemCommand({
          TableName: this.o.table,
          Key: this.key,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': { S: owner } },
        }),
      );
    } catch (e) {
      if (!conditionFailed(e)) throw e;
    }
  }
}
