import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorConfigError, EndpointError } from '../../shared/connectors/errors.ts';
import { PostgresBatchSource } from '../../shared/connectors/source-postgres-batch.ts';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { capture } from './fixtures.ts';

let server: PgServer;
let admin: pg.Client;

beforeAll(async () => {
  server = await startPostgres();
  admin = await server.client();
  await admin.query(`CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    customer TEXT NOT NULL,
    amount NUMERIC(12,2),
    big BIGINT,
    attrs JSONB,
    updated_at TIMESTAMPTZ NOT NULL
  )`);
  await admin.query(`CREATE TABLE lines (order_id INT, line INT, sku TEXT, PRIMARY KEY (order_id, line))`);
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

function config(): JsonObject {
  return { address: server.address, user: server.user, password: server.password, database: server.database };
}

async function source(
  resources: Json[],
  now = () => Date.parse('2024-06-01T00:00:00Z'),
): Promise<PostgresBatchSource> {
  return await PostgresBatchSource.create({
    spec: capture('acme/pg-batch', 'source-postgres-batch', config(), resources, 60),
    now,
  });
}

describe('source-postgres-batch', () => {
  it('validates config and resources with pointers', async () => {
    const err = (await PostgresBatchSource.create({
      spec: capture('acme/x', 'source-postgres-batch', { ...config(), passwd: 'x' }, [{ cursor: 'id' }]),
    }).catch((e: unknown) => e)) as ConnectorConfigError;
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(err.issues.map((i) => i.pointer)).toContain('/passwd');
    const err2 = (await PostgresBatchSource.create({
      spec: capture('acme/x', 'source-postgres-batch', config(), [{ cursor: 'id' }]),
    }).catch((e: unknown) => e)) as ConnectorConfigError;
    expect(err2.where).toBe('acme/x/bindings/0/resource');
    expect(err2.issues.map((i) => i.pointer).sort()).toEqual(['/cursor', '/name']);
  });

  it('discovers the primary key as the collection key, and column types', async () => {
    const src = await source([
      { name: 'orders', cursor: ['updated_at'] },
      { name: 'lines', cursor: ['order_id', 'line'] },
    ]);
    const d = await src.discover();
    expect(d[0]?.key).toEqual(['/id']);
    expect(d[1]?.key).toEqual(['/order_id', '/line']);
    expect(d[0]?.schema.properties).toMatchObject({
      id: { type: 'integer' },
      customer: { type: 'string' },
      amount: { type: ['string', 'null'], format: 'number' },
      updated_at: { type: 'string', format: 'date-time' },
    });
    await src.close();
  });

  it('polls by cursor: new and updated rows only, resumable from saved state, paged by limit', async () => {
    await admin.query(
      `INSERT INTO orders (customer, amount, big, attrs, updated_at) VALUES
       ('ann', 10.50, 9007199254740993, '{"vip": true}', '2024-01-01T00:00:01Z'),
       ('bob', NULL, 7, NULL, '2024-01-01T00:00:02Z'),
       ('cy', 3, NULL, '[1,2]', '2024-01-01T00:00:03Z')`,
    );
    const src = await source([{ name: 'orders', cursor: ['updated_at'], limit: 2 }]);
    const p1 = await src.poll(undefined);
    expect(p1.more).toBe(true);
    expect(p1.docs.map((d) => d.doc.customer)).toEqual(['ann', 'bob']);
    expect(p1.docs[0]?.doc).toEqual({
      id: 1,
      customer: 'ann',
      amount: '10.50',
      big: '9007199254740993',
      attrs: { vip: true },
      updated_at: '2024-01-01T00:00:01.000Z',
      _meta: { polled: '2024-06-01T00:00:00.000Z', index: 0, op: 'c' },
    });
    const p2 = await src.poll(p1.state);
    expect(p2.docs.map((d) => d.doc.customer)).toEqual(['cy']);
    expect(p2.more).toBe(false);
    const p3 = await src.poll(p2.state);
    expect(p3.docs).toEqual([]);
    await src.close();

    // a new instance (a restart) resumes from the saved state: sees only the update and the insert
    await admin.query(
      `UPDATE orders SET customer = 'bob2', updated_at = '2024-01-02T00:00:00Z' WHERE id = 2`,
    );
    await admin.query(`INSERT INTO orders (customer, updated_at) VALUES ('dee', '2024-01-03T00:00:00Z')`);
    const again = await source([{ name: 'orders', cursor: ['updated_at'], limit: 2 }]);
    const p4 = await again.poll(JSON.parse(JSON.stringify(p3.state)) as Json);
    expect(p4.docs.map((d) => [d.doc.id, d.doc.customer])).toEqual([
      [2, 'bob2'],
      [4, 'dee'],
    ]);
    // replaying a poll from the same state yields the same documents
    const replay = await again.poll(JSON.parse(JSON.stringify(p3.state)) as Json);
    expect(replay.docs).toEqual(p4.docs);
    await again.close();
  });

  it('a composite cursor orders and resumes by the tuple', async () => {
    await admin.query(`INSERT INTO lines VALUES (1,1,'a'), (1,2,'b'), (2,1,'c')`);
    const src = await source([{ name: 'lines', cursor: ['order_id', 'line'], limit: 2 }]);
    const p1 = await src.poll(undefined);
    await admin.query(`INSERT INTO lines VALUES (2,2,'d'), (0,9,'too old')`);
    const p2 = await src.poll(p1.state);
    expect([...p1.docs, ...p2.docs].map((d) => d.doc.sku)).toEqual(['a', 'b', 'c', 'd']);
    await src.close();
  });

  it('without a cursor every poll is a full refresh; a template query is filtered by the cursor', async () => {
    const full = await source([{ name: 'lines' }]);
    const a = await full.poll(undefined);
    const b = await full.poll(a.state);
    expect(a.docs.length).toBe(5);
    expect(b.docs.length).toBe(5);
    await full.close();
    const tpl = await source([
      {
        name: 'big_orders',
        template: `SELECT id, customer FROM orders WHERE customer <> 'cy'`,
        cursor: ['id'],
      },
    ]);
    const t1 = await tpl.poll({ bindings: { big_orders: { cursor: ['1'] } } });
    expect(t1.docs.map((d) => d.doc.customer)).toEqual(['bob2', 'dee']);
    await tpl.close();
  });

  it('reports a failing query with the binding', async () => {
    const src = await source([{ name: 'no_such_table', cursor: ['id'] }]);
    const err = (await src.poll(undefined).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.message).toContain('binding 0 (no_such_table)');
    await src.close();
  });
});
