/**
 * materialize-dynamodb on dynalite (which enforces DynamoDB's 400 KB item limit) and s3rver, driven by
 * the real materialize task: an item whose document outgrows DynamoDB keeps the fields that fit and a
 * pointer to the document in S3 (issue 9, item 3); tombstones expire and `_sluice_applied` entries of
 * sources no redelivery can reach are pruned (issue 10, item 8).
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AwsClients,
  destroyClients,
  EMULATOR_CREDENTIALS,
  makeClients,
} from '../../shared/adapters/clients.ts';
import { DynamoStateStore, DynamoTable } from '../../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import {
  APPLIED_AT_ATTR,
  APPLIED_ATTR,
  checkpointItems,
  DOCUMENT_ATTR,
  DOCUMENT_REF_ATTR,
  DynamoDbConnector,
} from '../../shared/connectors/materialize-dynamodb.ts';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import type { Emulators } from '../../shared/local/emulators.ts';
import { MaterializeTask } from '../../shared/materialize/task.ts';
import type { DocBatch } from '../../shared/ports/events.ts';
import { encodePosition } from '../../shared/ports/position.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';
import { materialization } from './fixtures.ts';

let emulators: Emulators;
let clients: AwsClients;
beforeAll(async () => {
  ({ emulators, clients } = await startStack());
});
afterAll(async () => {
  await emulators?.stop();
});

const URI = 'file:///fixtures/logs.schema.json';
/** `log` grows by `append`; `reset: true` replaces it (the document shrinks); `_meta.op = d` deletes. */
const schema: Json = {
  $id: URI,
  type: 'object',
  required: ['id'],
  properties: {
    id: { type: 'string' },
    title: { type: 'string' },
    log: { type: 'array', items: { type: 'string' } },
  },
  allOf: [
    {
      if: {
        properties: { _meta: { properties: { op: { const: 'd' } }, required: ['op'] } },
        required: ['_meta'],
      },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { reduce: { strategy: 'merge', delete: true } },
      else: { reduce: { strategy: 'merge' } },
    },
    {
      if: { required: ['reset'], properties: { reset: { const: true } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { properties: { log: { reduce: { strategy: 'lastWriteWins' } } } },
      else: { properties: { log: { reduce: { strategy: 'append' } } } },
    },
  ],
};
const loc = { file: '/fixtures/flow.yaml', line: 1, col: 1, pointer: '' };
const NAME = 'acme/logs-to-dynamo';

function catalogOf(table: string, resource: JsonObject = { table }): BuiltCatalog {
  return {
    root: '/fixtures/flow.yaml',
    schemas: { [URI]: schema },
    collections: {
      'acme/logs': {
        name: 'acme/logs',
        writeSchema: URI,
        readSchema: URI,
        key: ['/id'],
        projections: {},
        source: loc,
      },
    },
    captures: {},
    materializations: {
      [NAME]: materialization(NAME, 'materialize-dynamodb', {}, [resource], 'acme/logs'),
    },
    tests: {},
    storageMappings: {},
  };
}

/** One batch of one shard: documents at sequence numbers `seq`, `seq + 1`, … */
function batch(seq: number, docs: JsonObject[], shardId = 'shardId-000'): DocBatch {
  return {
    collection: 'acme/logs',
    shardId,
    bytes: 0,
    docs: docs.map((doc, i) => {
      const position = encodePosition(String(seq + i), 0);
      return {
        doc,
        shardId,
        sequenceNumber: String(seq + i),
        index: 0,
        streamPosition: position,
        source: `acme/logs/${shardId}`,
        position,
        arrivalMs: Date.UTC(2026, 10, 29),
      };
    }),
  };
}

/** 100 KB of log lines, distinct per step. */
const lines = (step: number): string[] =>
  Array.from({ length: 100 }, (_, i) => `${step}:${i}:`.padEnd(1000, String.fromCharCode(97 + (step % 26))));

async function setup(
  opts: {
    tombstoneTtlSeconds?: number;
    appliedHorizonSeconds?: number;
    now?: () => number;
    /** Changes the fixture's catalog before the connector is made. */
    edit?: (catalog: BuiltCatalog) => void;
  } = {},
) {
  const table = uniqueName('logs');
  const stateTable = uniqueName('state');
  const bucket = uniqueName('default');
  await new DynamoStateStore({ client: clients.dynamodb, table: stateTable }).ensureTable();
  const blobs = new S3BlobStore({ client: clients.s3, bucket });
  await blobs.ensureBucket();
  const catalog = catalogOf(table);
  opts.edit?.(catalog);
  const spec = catalog.materializations[NAME];
  const connector = new DynamoDbConnector({
    spec,
    catalog,
    client: clients.dynamodb,
    stateTable,
    spillBucket: bucket,
    blobs: (b) => new S3BlobStore({ client: clients.s3, bucket: b }),
    tombstoneTtlSeconds: opts.tombstoneTtlSeconds,
    appliedHorizonSeconds: opts.appliedHorizonSeconds,
    nowSeconds: opts.now,
  });
  const task = new MaterializeTask(spec, catalog, new SchemaRegistry(catalog.schemas), connector);
  await task.open();
  const raw = async (id: string) =>
    (
      await new DynamoTable({
        client: clients.dynamodb,
        table,
        partitionKey: { name: 'id', type: 'S' },
      }).batchGet([{ id }])
    )[0];
  return { table, stateTable, bucket, blobs, connector, task, raw };
}

describe('materialize-dynamodb: items too large for DynamoDB', () => {
  it('a document growing past 400 KB through append keeps its small fields and a pointer; read back equal; inline again when it shrinks', async () => {
    const { bucket, blobs, connector, task, raw } = await setup();
    let expected: string[] = [];
    let seq = 10;
    for (let step = 0; step < 6; step++) {
      await task.onBatch(batch(seq, [{ id: 'k1', title: `step ${step}`, log: lines(step) }]));
      seq++;
      expected = expected.concat(lines(step));
      const want = { id: 'k1', title: `step ${step}`, log: expected };
      expect((await connector.loadApplied(0, [['k1']])).get('["k1"]')?.doc).toEqual(want);
      expect((await connector.items(0)).map((i) => i[DOCUMENT_ATTR])).toEqual([want]);
    }
    expect(JSON.stringify(expected).length).toBeGreaterThan(400 * 1024);
    // The stored item: key, the field that fits, positions and the pointer; no `log`, no `flow_document`.
    const item = (await raw('k1')) as Record<string, Json>;
    expect(Object.keys(item).sort()).toEqual([APPLIED_ATTR, DOCUMENT_REF_ATTR, 'id', 'title'].sort());
    expect(item.title).toBe('step 5');
    const ref = item[DOCUMENT_REF_ATTR] as string;
    expect(ref).toMatch(
      new RegExp(`^s3://${bucket}/_sluice/spill/materialization/acme/logs-to-dynamo/[0-9a-f]{64}\\.json$`),
    );
    const object = await blobs.get(ref.slice(`s3://${bucket}/`.length));
    expect(JSON.parse(Buffer.from(object ?? []).toString())).toEqual({
      id: 'k1',
      title: 'step 5',
      log: expected,
    });

    // A redelivered batch changes nothing.
    const stored = task.stats.keysStored;
    await task.onBatch(batch(seq - 1, [{ id: 'k1', title: 'step 5', log: lines(5) }]));
    expect(task.stats.keysStored).toBe(stored);
    expect((await raw('k1'))?.[DOCUMENT_REF_ATTR]).toBe(ref);

    // It shrinks: inline again, the pointer gone.
    await task.onBatch(batch(seq, [{ id: 'k1', log: ['small'], reset: true }]));
    const small = (await raw('k1')) as Record<string, Json>;
    expect(small[DOCUMENT_REF_ATTR]).toBeUndefined();
    const want = { id: 'k1', title: 'step 5', log: ['small'], reset: true };
    expect(small[DOCUMENT_ATTR]).toEqual(want);
    expect(small.log).toEqual(['small']);
    expect((await connector.loadApplied(0, [['k1']])).get('["k1"]')?.doc).toEqual(want);
  });
});

describe('materialize-dynamodb: what it keeps for exactly-once does not grow forever', () => {
  it('a tombstone carries `ttl` = now + tombstoneTtlSeconds and still guards replays', async () => {
    const now = 1_800_000_000;
    const { stateTable, task, raw, connector } = await setup({
      tombstoneTtlSeconds: 48 * 3600,
      now: () => now,
    });
    await task.onBatch(batch(10, [{ id: 'k1', title: 'a' }]));
    await task.onBatch(batch(11, [{ id: 'k1', _meta: { op: 'd' } }]));
    expect(await raw('k1')).toBeUndefined();
    const tombstone = (
      await clients.dynamodb.send(
        new GetItemCommand({
          TableName: stateTable,
          Key: { p: { S: `c#materialization:${NAME}` }, k: { B: Buffer.from('t#0#["k1"]') } },
          ConsistentRead: true,
        }),
      )
    ).Item;
    expect(tombstone?.ttl).toEqual({ N: String(now + 48 * 3600) });
    // Until it expires, a replay of the first document does not resurrect the key.
    await task.onBatch(batch(10, [{ id: 'k1', title: 'a' }]));
    expect(await raw('k1')).toBeUndefined();
    expect((await connector.loadApplied(0, [['k1']])).get('["k1"]')?.doc).toBeUndefined();
  });

  it('`_sluice_applied` keeps when each source moved and drops a source that has not moved for longer than the horizon', async () => {
    let now = 1_800_000_000;
    const horizon = 10 * 24 * 3600;
    const { task, raw } = await setup({ appliedHorizonSeconds: horizon, now: () => now });
    const p = (n: number) => encodePosition(String(n), 0);
    await task.onBatch(batch(10, [{ id: 'k1', title: 'parent' }], 'shardId-000'));
    expect(JSON.parse((await raw('k1'))?.[APPLIED_AT_ATTR] as string)).toEqual({
      'acme/logs/shardId-000': now,
    });
    // After a split the key's documents come from a child shard.
    now += 3600;
    await task.onBatch(batch(20, [{ id: 'k1', title: 'child' }], 'shardId-001'));
    let item = (await raw('k1')) as Record<string, Json>;
    expect(JSON.parse(item[APPLIED_ATTR] as string)).toEqual({
      'acme/logs/shardId-000': p(10),
      'acme/logs/shardId-001': p(20),
    });
    expect(JSON.parse(item[APPLIED_AT_ATTR] as string)).toEqual({
      'acme/logs/shardId-000': now - 3600,
      'acme/logs/shardId-001': now,
    });
    // Past the horizon the parent's entry is pruned on the next write; the child's stays.
    now += horizon;
    await task.onBatch(batch(21, [{ id: 'k1', title: 'later' }], 'shardId-001'));
    item = (await raw('k1')) as Record<string, Json>;
    expect(JSON.parse(item[APPLIED_ATTR] as string)).toEqual({ 'acme/logs/shardId-001': p(21) });
    expect(item.title).toBe('later');
    // The child's positions still guard: its redelivery changes nothing.
    await task.onBatch(batch(21, [{ id: 'k1', title: 'replayed' }], 'shardId-001'));
    expect((await raw('k1'))?.title).toBe('later');
  });
});

describe('materialize-dynamodb: checkpoints', () => {
  /** The connector of `setup()` on a client that records the commands it sends. */
  async function recorded() {
    const s = await setup();
    const sent: string[] = [];
    const client = {
      send: (cmd: { constructor: { name: string } }) => {
        sent.push(cmd.constructor.name.replace(/Command$/, ''));
        return clients.dynamodb.send(cmd as never);
      },
    } as unknown as typeof clients.dynamodb;
    const catalog = catalogOf(s.table);
    const connector = new DynamoDbConnector({
      spec: catalog.materializations[NAME],
      catalog,
      client,
      stateTable: s.stateTable,
    });
    return { ...s, connector, sent };
  }
  const base = 'acme/logs/shardId-000';
  const own = `${base}#0@0000000001`;
  const pos = (n: number) => encodePosition(String(n), 0);

  it('groups a key `<base>#<suffix>` into its base item only when the base is committed with it', () => {
    const items = checkpointItems({ [base]: pos(5), [own]: pos(5), 'backfill:0': '0000000001' });
    expect([...items].map(([k, v]) => [k, Object.fromEntries(v)])).toEqual([
      [base, { '': pos(5), '0@0000000001': pos(5) }],
      ['backfill:0', { '': '0000000001' }],
    ]);
    // A backfill's own commit (its position without the shared one) keeps its own item.
    expect([...checkpointItems({ [own]: pos(7) }).keys()]).toEqual([own]);
  });

  it("a live batch's shared and own positions cost one write; open() reads every key back", async () => {
    const { connector, sent } = await recorded();
    await connector.commit({
      bindings: [],
      checkpoint: { [base]: pos(5), [own]: pos(5), 'backfill:0': '0000000001' },
    });
    expect(sent).toEqual(['UpdateItem', 'UpdateItem']);
    expect((await connector.open()).checkpoint).toEqual({
      [base]: pos(5),
      [own]: pos(5),
      'backfill:0': '0000000001',
    });
  });

  it('each position only moves forward: an older one in the same item does not hold the newer one back', async () => {
    const { connector, sent } = await recorded();
    await connector.commit({ bindings: [], checkpoint: { [base]: pos(9), [own]: pos(5) } });
    sent.length = 0;
    // A stale writer's shared position (7 < 9) beside a newer own position (8 > 5).
    await connector.commit({ bindings: [], checkpoint: { [base]: pos(7), [own]: pos(8) } });
    // The packed write fails its condition; each position is then written on its own.
    expect(sent).toEqual(['UpdateItem', 'UpdateItem', 'UpdateItem']);
    expect((await connector.open()).checkpoint).toEqual({ [base]: pos(9), [own]: pos(8) });
  });

  it('reads checkpoints of the earlier layout (an item per key): the later of both positions wins', async () => {
    const { connector, stateTable } = await recorded();
    const putOld = (key: string, p: string) =>
      clients.dynamodb.send(
        new PutItemCommand({
          TableName: stateTable,
          Item: {
            p: { S: `c#materialization:${NAME}` },
            k: { B: Buffer.from(`cp#${key}`) },
            pos: { S: p },
          },
        }),
      );
    await putOld(base, pos(3));
    await putOld(own, pos(6));
    expect((await connector.open()).checkpoint).toEqual({ [base]: pos(3), [own]: pos(6) });
    // A live batch after the upgrade writes both into the base item; the old own item is older now.
    await connector.commit({ bindings: [], checkpoint: { [base]: pos(4), [own]: pos(4) } });
    expect((await connector.open()).checkpoint).toEqual({ [base]: pos(4), [own]: pos(6) });
    await connector.commit({ bindings: [], checkpoint: { [base]: pos(10), [own]: pos(10) } });
    expect((await connector.open()).checkpoint).toEqual({ [base]: pos(10), [own]: pos(10) });
  });
});

describe('materialize-dynamodb: delta updates', () => {
  it("a key's deltas of one transaction land in order, even when the first one's answer is lost and it is sent again", async () => {
    const table = uniqueName('deltas');
    const catalog = catalogOf(table, { table, delta_updates: true });
    const spec = catalog.materializations[NAME];
    // A client whose first write of a deletion delta is applied, then its answer lost: the SDK sends it
    // again a little later (what a reset connection or a 500 after the write leads to).
    const own = makeClients({
      region: 'us-east-1',
      endpoints: emulators.endpoints,
      credentials: EMULATOR_CREDENTIALS,
    });
    let resent = 0;
    own.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string; Item?: unknown };
        const deletion = JSON.stringify(input.Item ?? null).includes('"op":{"S":"d"}');
        if (context.commandName !== 'PutItemCommand' || input.TableName !== table || !deletion || resent > 0)
          return next(args);
        resent++;
        await next(args);
        await new Promise((r) => setTimeout(r, 300));
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const connector = new DynamoDbConnector({ spec, catalog, client: own.dynamodb });
      const task = new MaterializeTask(spec, catalog, new SchemaRegistry(catalog.schemas), connector);
      await task.open();
      // Deleted and created again in one transaction: two deltas of the key, the deletion first.
      await task.onBatch(
        batch(1, [
          { id: 'a', title: 'old', _meta: { op: 'd' } },
          { id: 'a', title: 'new' },
        ]),
      );
      expect(resent).toBe(1);
      const items = await connector.items(0);
      expect(items.map((i) => i[DOCUMENT_ATTR])).toEqual([{ id: 'a', title: 'new' }]);
    } finally {
      destroyClients(own);
    }
  });
});

describe('materialize-dynamodb: a nested key', () => {
  it("is stored under Estuary's canonical field (`user/id`), beside a top-level `id` it no longer overwrites", async () => {
    const nested = 'test://nested.schema.json';
    const { table, task } = await setup({
      edit: (catalog) => {
        catalog.schemas[nested] = {
          type: 'object',
          reduce: { strategy: 'merge' },
          properties: {
            user: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
            id: { type: 'integer' },
          },
          required: ['user'],
        };
        catalog.collections['acme/logs'] = {
          ...catalog.collections['acme/logs'],
          key: ['/user/id'],
          writeSchema: nested,
          readSchema: nested,
        };
      },
    });
    await task.onBatch(batch(1, [{ user: { id: 'u1' }, id: 42 }]));
    const item = (
      await new DynamoTable({
        client: clients.dynamodb,
        table,
        partitionKey: { name: 'user/id', type: 'S' },
      }).batchGet([{ 'user/id': 'u1' }])
    )[0] as Record<string, Json>;
    expect(item['user/id']).toBe('u1');
    expect(item.id).toBe(42);
  });
});
