import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorConfigError, SecretError } from '../../shared/connectors/errors.ts';
import { PostgresMaterialization, sqlTypeOf } from '../../shared/connectors/materialize-postgres.ts';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import { FencedError } from '../../shared/materialize/connector.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { oracle, pos, runBatch, type SourceDoc } from './driver.ts';
import { catalogWith, materialization } from './fixtures.ts';

let server: PgServer;
let admin: pg.Client;
let counter = 0;

beforeAll(async () => {
  server = await startPostgres();
  admin = await server.client();
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

function pgConfig(extra: Record<string, unknown> = {}): JsonObject {
  return {
    address: server.address,
    user: server.user,
    password: server.password,
    database: server.database,
    advanced: server.advanced,
    ...extra,
  } as JsonObject;
}

async function connector(
  opts: {
    table?: string;
    name?: string;
    delta?: boolean;
    hardDelete?: boolean;
    shards?: string[];
    beforeCommit?: () => Promise<void>;
  } = {},
): Promise<{ conn: PostgresMaterialization; table: string; name: string }> {
  const table = opts.table ?? `orders_${++counter}`;
  const name = opts.name ?? `acme/pg-${table}`;
  const spec = materialization(
    name,
    'materialize-postgres',
    pgConfig({ hardDelete: opts.hardDelete ?? false }),
    [{ table, delta_updates: opts.delta ?? false }],
  );
  const conn = await PostgresMaterialization.create({
    spec,
    catalog: catalogWith({ [name]: spec }),
    shards: opts.shards,
    faults: opts.beforeCommit ? { beforeCommit: opts.beforeCommit } : undefined,
  });
  await conn.apply();
  return { conn, table, name };
}

async function tableRows(table: string): Promise<Map<number, JsonObject>> {
  const res = await admin.query(`SELECT flow_document FROM public."${table}" ORDER BY order_id`);
  const out = new Map<number, JsonObject>();
  for (const r of res.rows as { flow_document: JsonObject }[]) {
    if ((r.flow_document._meta as JsonObject | undefined)?.op === 'd') continue;
    out.set(r.flow_document.id as number, r.flow_document);
  }
  return out;
}

function docs(shard: string, from: number, items: JsonObject[]): SourceDoc[] {
  return items.map((doc, i) => ({ shard, pos: pos(from + i), doc }));
}

describe('sqlTypeOf', () => {
  it('maps JSON Schema shapes to SQL types', () => {
    const t = (types: string[], format?: string) =>
      sqlTypeOf({ types: new Set(types), format, required: true });
    expect(t(['integer'])).toBe('BIGINT');
    expect(t(['integer', 'null'])).toBe('BIGINT');
    expect(t(['number'])).toBe('DOUBLE PRECISION');
    expect(t(['integer', 'number'])).toBe('DOUBLE PRECISION');
    expect(t(['boolean'])).toBe('BOOLEAN');
    expect(t(['string'])).toBe('TEXT');
    expect(t(['string'], 'date-time')).toBe('TIMESTAMPTZ');
    expect(t(['string'], 'integer')).toBe('NUMERIC');
    expect(t(['object'])).toBe('JSONB');
    expect(t(['array'])).toBe('JSONB');
    expect(t(['string', 'integer'])).toBe('JSONB');
    expect(t([])).toBe('JSONB');
  });
});

describe('materialize-postgres config', () => {
  it('rejects a bad config with the JSON pointer and what is allowed', async () => {
    const spec = materialization(
      'acme/bad',
      'materialize-postgres',
      { address: 'h:1', usr: 'x', password: 'p' },
      [{ table: 't', delta_updates: 'yes' }],
    );
    const err = await PostgresMaterialization.create({
      spec,
      catalog: catalogWith({ 'acme/bad': spec }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    const e = err as ConnectorConfigError;
    expect(e.code).toBe('InvalidConnectorConfig');
    expect(e.where).toBe('acme/bad/endpoint/connector/config');
    expect(e.issues).toContainEqual(
      expect.objectContaining({
        pointer: '/usr',
        message: expect.stringContaining('allowed: address, user'),
      }),
    );
    expect(e.issues).toContainEqual(
      expect.objectContaining({ pointer: '/user', message: expect.stringContaining('missing required') }),
    );
  });

  it('rejects a bad resource with its binding index', async () => {
    const spec = materialization('acme/bad2', 'materialize-postgres', pgConfig(), [
      { table: 't', delta_updates: 'yes' },
    ]);
    const err = (await PostgresMaterialization.create({
      spec,
      catalog: catalogWith({ 'acme/bad2': spec }),
    }).catch((e: unknown) => e)) as ConnectorConfigError;
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(err.where).toBe('acme/bad2/bindings/0/resource');
    expect(err.issues[0]?.pointer).toBe('/delta_updates');
  });

  it('reads the password from an environment variable, and names the variable (not the value) when unset', async () => {
    process.env.SLUICE_TEST_PG_PASSWORD = server.password;
    const spec = materialization(
      'acme/env',
      'materialize-postgres',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${ENV_NAME} secret syntax, not a template
      pgConfig({ password: '${SLUICE_TEST_PG_PASSWORD}' }),
      [{ table: 'env_ok' }],
    );
    const conn = await PostgresMaterialization.create({ spec, catalog: catalogWith({ 'acme/env': spec }) });
    await conn.apply();
    await conn.close();
    const spec2 = materialization(
      'acme/env2',
      'materialize-postgres',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${ENV_NAME} secret syntax, not a template
      pgConfig({ password: '${SLUICE_NOT_SET_XYZ}' }),
      [{ table: 'env_missing' }],
    );
    const err = (await PostgresMaterialization.create({ spec: spec2, catalog: catalogWith({}) }).catch(
      (e: unknown) => e,
    )) as SecretError;
    expect(err).toBeInstanceOf(SecretError);
    expect(err.message).toContain('SLUICE_NOT_SET_XYZ');
    expect(err.pointer).toBe('/password');
  });
});

describe('materialize-postgres tables', () => {
  it('creates columns typed from the schema, keyed by the collection key, idempotently', async () => {
    const { conn, table } = await connector();
    await conn.apply(); // twice: no error, no change
    const cols = await admin.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`,
      [table],
    );
    const types = Object.fromEntries(
      cols.rows.map((r: { column_name: string; data_type: string }) => [r.column_name, r.data_type]),
    );
    expect(types).toEqual({
      order_id: 'bigint',
      customer: 'text',
      qty: 'bigint',
      price: 'double precision',
      paid: 'boolean',
      at: 'timestamp with time zone',
      tags: 'jsonb',
      address: 'jsonb',
      city: 'text',
      flow_document: 'jsonb',
    });
    const pk = await admin.query(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = $1::regclass AND i.indisprimary`,
      [`public."${table}"`],
    );
    expect(pk.rows.map((r: { attname: string }) => r.attname)).toEqual(['order_id']);
    await conn.close();
  });

  it('stores projected values and loads documents back', async () => {
    const { conn, table } = await connector();
    const batch = docs('acme/orders/shard-0', 1, [
      {
        id: 1,
        customer: 'ann',
        qty: 2,
        price: 9.5,
        paid: true,
        at: '2024-05-01T10:00:00Z',
        tags: ['a'],
        address: { city: 'Oslo' },
      },
      { id: 2, customer: 'bob', qty: 1 },
      { id: 1, qty: 3 },
    ]);
    await runBatch(conn, batch);
    const row = await admin.query(`SELECT * FROM public."${table}" WHERE order_id = 1`);
    expect(row.rows[0]).toMatchObject({
      customer: 'ann',
      qty: '5',
      price: 9.5,
      paid: true,
      tags: ['a'],
      city: 'Oslo',
    });
    expect((row.rows[0].at as Date).toISOString()).toBe('2024-05-01T10:00:00.000Z');
    const loaded = await conn.load(0, [[1], [2], [3]]);
    expect([...loaded.keys()].sort()).toEqual(['[1]', '[2]']);
    expect(loaded.get('[1]')).toMatchObject({ id: 1, qty: 5 });
    await conn.close();
  });

  it('a NUL character is left out of TEXT and JSONB, which cannot hold it (the materialization halted there for good)', async () => {
    const { conn, table } = await connector();
    await runBatch(
      conn,
      docs('acme/orders/shard-0', 1, [
        { id: 7, customer: 'a\u0000b', tags: ['x\u0000'], address: { city: 'O\u0000slo', 'k\u0000': 1 } },
      ]),
    );
    const row = await admin.query(
      `SELECT customer, tags, city, flow_document FROM public."${table}" WHERE order_id = 7`,
    );
    expect(row.rows[0]).toMatchObject({ customer: 'ab', tags: ['x'], city: 'Oslo' });
    expect(row.rows[0].flow_document).toMatchObject({ customer: 'ab', address: { city: 'Oslo', k: 1 } });
    // Reduced onto the stored row as any other.
    await runBatch(conn, docs('acme/orders/shard-0', 2, [{ id: 7, qty: 2 }]));
    expect((await conn.load(0, [[7]])).get('[7]')).toMatchObject({ customer: 'ab', qty: 2 });
    await conn.close();
  });

  it('two fields alike in their first 63 bytes make one column, the first (PostgreSQL keeps 63 bytes of a name)', async () => {
    const long = 'a_field_name_long_enough_to_run_past_what_postgres_keeps_of_names';
    const table = `orders_${++counter}`;
    const name = `acme/pg-${table}`;
    const spec = materialization(name, 'materialize-postgres', pgConfig(), [{ table }]);
    const catalog = catalogWith({ [name]: spec });
    const uri = Object.keys(catalog.schemas)[0];
    // A copy: the fixture's schema object is shared with the other tests.
    const schema = structuredClone(catalog.schemas[uri]) as { properties: Record<string, Json> };
    catalog.schemas[uri] = schema;
    schema.properties[`${long}_one`] = { type: 'string' };
    schema.properties[`${long}_two`] = { type: 'string' };
    const conn = await PostgresMaterialization.create({ spec, catalog });
    // It failed here: column "…" specified more than once.
    await conn.apply();
    await runBatch(
      conn,
      docs('acme/orders/shard-0', 1, [{ id: 9, [`${long}_one`]: 'first', [`${long}_two`]: 'second' }]),
    );
    const cols = await admin.query(
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND column_name LIKE 'a_field%'`,
      [table],
    );
    expect(cols.rows.map((r: { column_name: string }) => r.column_name)).toEqual([
      `${long}_one`.slice(0, 63),
    ]);
    const row = await admin.query(`SELECT * FROM public."${table}" WHERE order_id = 9`);
    expect(row.rows[0][`${long}_one`.slice(0, 63)]).toBe('first');
    await conn.close();
  });

  it('soft-deletes by default (row kept with _meta/op = d, load treats it as absent)', async () => {
    const { conn, table } = await connector();
    await runBatch(
      conn,
      docs('s', 1, [
        { id: 1, qty: 1 },
        { id: 2, qty: 1 },
      ]),
    );
    await runBatch(conn, docs('s', 3, [{ id: 1, op: 'del' }]));
    const rows = await admin.query(
      `SELECT order_id, flow_document #>> '{_meta,op}' AS op FROM public."${table}" ORDER BY 1`,
    );
    expect(rows.rows).toEqual([
      { order_id: '1', op: 'd' },
      { order_id: '2', op: null },
    ]);
    expect((await conn.load(0, [[1]])).size).toBe(0);
    await runBatch(conn, docs('s', 4, [{ id: 1, qty: 7 }]));
    expect((await tableRows(table)).get(1)).toMatchObject({ qty: 7 });
    await conn.close();
  });

  it('hard-deletes with hardDelete: true', async () => {
    const { conn, table } = await connector({ hardDelete: true });
    await runBatch(
      conn,
      docs('s', 1, [
        { id: 1, qty: 1 },
        { id: 2, qty: 1 },
      ]),
    );
    await runBatch(conn, docs('s', 3, [{ id: 1, op: 'del' }]));
    const rows = await admin.query(`SELECT order_id FROM public."${table}"`);
    expect(rows.rows).toEqual([{ order_id: '2' }]);
    await conn.close();
  });

  it('delta updates insert one row per combined delta, without a primary key', async () => {
    const { conn, table } = await connector({ delta: true });
    await runBatch(
      conn,
      docs('s', 1, [
        { id: 1, qty: 1 },
        { id: 1, qty: 2 },
        { id: 2, qty: 5 },
      ]),
      { delta: true },
    );
    await runBatch(conn, docs('s', 4, [{ id: 1, qty: 10 }]), { delta: true });
    // redelivery of the second batch: already committed, nothing inserted
    await runBatch(conn, docs('s', 4, [{ id: 1, qty: 10 }]), { delta: true });
    const rows = await admin.query(`SELECT order_id, qty FROM public."${table}" ORDER BY order_id, qty`);
    expect(rows.rows).toEqual([
      { order_id: '1', qty: '3' },
      { order_id: '1', qty: '10' },
      { order_id: '2', qty: '5' },
    ]);
    await conn.close();
  });
});

describe('materialize-postgres exactly once', () => {
  const stream: SourceDoc[] = [
    ...docs('acme/orders/shard-0', 1, [
      { id: 1, qty: 1 },
      { id: 2, qty: 10 },
      { id: 1, qty: 2 },
    ]),
    ...docs('acme/orders/shard-0', 4, [
      { id: 3, qty: 1 },
      { id: 1, qty: 4 },
    ]),
    ...docs('acme/orders/shard-0', 6, [
      { id: 2, op: 'del' },
      { id: 3, qty: 100 },
    ]),
  ];
  const batches = [stream.slice(0, 3), stream.slice(3, 5), stream.slice(5)];

  it('a crash before COMMIT (rows written, transaction open) rolls back; the retry applies once', async () => {
    let crash = true;
    const { conn, table, name } = await connector({
      beforeCommit: async () => {
        if (crash) throw new Error('injected crash before commit');
      },
    });
    await expect(runBatch(conn, batches[0] ?? [])).rejects.toThrow('injected crash');
    expect((await tableRows(table)).size).toBe(0);
    crash = false;
    for (const b of batches) await runBatch(conn, b);
    expect(await tableRows(table)).toEqual(oracle(stream));
    const cp = await admin.query(
      `SELECT shard, position FROM public.flow_checkpoints_v1 WHERE materialization = $1 AND shard <> ''`,
      [name],
    );
    expect(cp.rows).toEqual([{ shard: 'acme/orders/shard-0', position: pos(7) }]);
    await conn.close();
  });

  it('the connection dying inside the transaction loses nothing and applies nothing twice', async () => {
    let kill = true;
    const holder: { pid?: number } = {};
    const { conn, table } = await connector({
      beforeCommit: async () => {
        if (!kill || holder.pid === undefined) return;
        kill = false;
        await admin.query('SELECT pg_terminate_backend($1)', [holder.pid]);
      },
    });
    await runBatch(conn, batches[0] ?? []);
    holder.pid = Number(
      (
        await admin.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'sluice' ORDER BY backend_start DESC LIMIT 1`,
        )
      ).rows[0]?.pid,
    );
    await expect(runBatch(conn, batches[1] ?? [])).rejects.toThrow();
    // A new invocation (same connector object reconnects) redelivers the failed batch.
    await runBatch(conn, batches[1] ?? []);
    await runBatch(conn, batches[2] ?? []);
    expect(await tableRows(table)).toEqual(oracle(stream));
    await conn.close();
  });

  it('a crash after COMMIT (before the source is acknowledged) redelivers the batch: no double count', async () => {
    const { conn, table } = await connector();
    await runBatch(conn, batches[0] ?? []);
    await runBatch(conn, batches[1] ?? []);
    // the invocation "crashed" after committing batch 1: the event-source mapping delivers it again,
    // this time merged with batch 2 (different batch boundaries after a retry)
    const n = await runBatch(conn, [...(batches[1] ?? []), ...(batches[2] ?? [])]);
    expect(n).toBe(batches[2]?.length);
    expect(await tableRows(table)).toEqual(oracle(stream));
    await conn.close();
  });

  it('scoped: a zombie that opened before a newer instance cannot commit', async () => {
    const table = `orders_${++counter}`;
    const shards = ['s'];
    const a = (await connector({ table, name: 'acme/zombie', shards })).conn;
    const b = (await connector({ table, name: 'acme/zombie', shards })).conn;
    await a.open();
    await b.open();
    const txn = {
      bindings: [{ binding: 0, docs: [{ key: [1], doc: { id: 1, qty: 999 }, deleted: false }] }],
      checkpoint: { s: pos(1) },
    };
    const err = await a.commit(txn).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedError);
    expect((err as FencedError).code).toBe('Fenced');
    expect((await tableRows(table)).size).toBe(0);
    await runBatch(b, docs('s', 1, [{ id: 1, qty: 5 }]));
    expect((await tableRows(table)).get(1)).toMatchObject({ qty: 5 });
    await a.close();
    await b.close();
  });

  it('unscoped: whoever commits a shard first takes it; the stale instance is fenced until it re-opens', async () => {
    const table = `orders_${++counter}`;
    const a = (await connector({ table, name: 'acme/race' })).conn;
    const b = (await connector({ table, name: 'acme/race' })).conn;
    await a.open();
    await b.open();
    await runBatch(b, docs('s', 1, [{ id: 1, qty: 5 }])); // b opens again inside runBatch and commits s
    const stale = {
      bindings: [{ binding: 0, docs: [{ key: [1], doc: { id: 1, qty: 999 }, deleted: false }] }],
      checkpoint: { s: pos(1) },
    };
    const err = (await a.commit(stale).catch((e: unknown) => e)) as FencedError;
    expect(err).toBeInstanceOf(FencedError);
    expect(err.message).toContain('advanced to');
    // b holds the fence of s now; a re-opens, commits (taking s over), and b becomes the zombie
    await runBatch(a, docs('s', 2, [{ id: 1, qty: 1 }]));
    await expect(b.commit({ bindings: [], checkpoint: { s: pos(3) } })).rejects.toBeInstanceOf(FencedError);
    expect((await tableRows(table)).get(1)).toMatchObject({ qty: 6 });
    await a.close();
    await b.close();
  });

  it('unscoped instances serving different shards never fence each other', async () => {
    const table = `orders_${++counter}`;
    const a = (await connector({ table, name: 'acme/two' })).conn;
    const b = (await connector({ table, name: 'acme/two' })).conn;
    const d0 = docs('x/0', 1, [{ id: 1, qty: 1 }]);
    const d1 = docs('x/1', 1, [{ id: 2, qty: 2 }]);
    const more0 = docs('x/0', 2, [{ id: 1, qty: 3 }]);
    const more1 = docs('x/1', 2, [{ id: 2, qty: 4 }]);
    await a.open();
    await b.open();
    // interleaved, each instance keeps its own open() view (as a long-lived task does)
    const commitOnly = async (conn: PostgresMaterialization, d: SourceDoc[], qty: number) =>
      conn.commit({
        bindings: [
          {
            binding: 0,
            docs: [
              { key: [d[0]?.doc.id as number], doc: { id: d[0]?.doc.id as number, qty }, deleted: false },
            ],
          },
        ],
        checkpoint: { [d[0]?.shard as string]: d[d.length - 1]?.pos as string },
      });
    await commitOnly(a, d0, 1);
    await commitOnly(b, d1, 2);
    await commitOnly(a, more0, 4);
    await commitOnly(b, more1, 6);
    expect(await tableRows(table)).toEqual(oracle([...d0, ...d1, ...more0, ...more1]));
    await a.close();
    await b.close();
  });

  it('instances scoped to different source shards commit concurrently without fencing each other', async () => {
    const table = `orders_${++counter}`;
    const s0 = 'acme/orders/shard-0';
    const s1 = 'acme/orders/shard-1';
    const a = (await connector({ table, name: 'acme/sharded', shards: [s0] })).conn;
    const b = (await connector({ table, name: 'acme/sharded', shards: [s1] })).conn;
    const d0 = docs(s0, 1, [
      { id: 1, qty: 1 },
      { id: 1, qty: 2 },
    ]);
    const d1 = docs(s1, 1, [
      { id: 2, qty: 5 },
      { id: 4, qty: 1 },
    ]);
    await Promise.all([runBatch(a, d0), runBatch(b, d1)]);
    // a second instance on shard-0 fences the first one on shard-0 only
    const a2 = (await connector({ table, name: 'acme/sharded', shards: [s0] })).conn;
    await a2.open();
    const stale = await a.commit({ bindings: [], checkpoint: { [s0]: pos(9) } }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(FencedError);
    await runBatch(b, docs(s1, 3, [{ id: 2, qty: 1 }]));
    // committing a shard outside the scope is refused
    await expect(a2.commit({ bindings: [], checkpoint: { [s1]: pos(99) } })).rejects.toBeInstanceOf(
      FencedError,
    );
    expect(await tableRows(table)).toEqual(oracle([...d0, ...d1, ...docs(s1, 3, [{ id: 2, qty: 1 }])]));
    for (const c of [a, b, a2]) await c.close();
  });

  it.each([
    ['unscoped', undefined],
    ['scoped', ['acme/orders/shard-0']],
  ])(
    '%s: random batchings, crashes before/after commit and zombies always end with the oracle',
    async (_mode, shards) => {
      const docArb = fc.record({
        id: fc.integer({ min: 1, max: 6 }),
        qty: fc.integer({ min: -5, max: 20 }),
        del: fc.integer({ min: 0, max: 9 }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(docArb, { minLength: 1, maxLength: 40 }),
          fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 40 }),
          fc.array(fc.constantFrom('ok', 'crashBefore', 'crashAfter', 'zombie'), {
            minLength: 1,
            maxLength: 40,
          }),
          async (items, sizes, faults) => {
            const stream2 = items.map((it, i) => ({
              shard: 'acme/orders/shard-0',
              pos: pos(i + 1),
              doc: (it.del === 0 ? { id: it.id, op: 'del' } : { id: it.id, qty: it.qty }) as JsonObject,
            }));
            const table = `orders_${++counter}`;
            const name = `acme/prop-${table}`;
            let failNext = false;
            const make = async () =>
              (
                await connector({
                  table,
                  name,
                  shards,
                  beforeCommit: async () => {
                    if (failNext) {
                      failNext = false;
                      throw new Error('injected');
                    }
                  },
                })
              ).conn;
            let conn = await make();
            let at = 0; // acknowledged position in the stream
            let step = 0;
            let faulted = false;
            while (at < stream2.length) {
              const size = sizes[step % sizes.length] as number;
              // after a fault the redelivery succeeds, so every run makes progress
              const fault: string | undefined = faulted ? 'ok' : faults[step % faults.length];
              faulted = fault !== 'ok';
              step++;
              const batch = stream2.slice(at, at + size);
              if (fault === 'crashBefore') {
                failNext = true;
                // (a batch already committed by an earlier crashAfter commits nothing, so nothing crashes)
                await runBatch(conn, batch).catch((e: unknown) =>
                  expect((e as Error).message).toBe('injected'),
                );
                failNext = false;
                continue; // not acknowledged: redelivered
              }
              if (fault === 'zombie') {
                const zombie = conn;
                await zombie.open();
                conn = await make(); // a newer instance opens and commits; the zombie tries its stale view
                const applied = await runBatch(conn, batch);
                // Scoped: open() alone fences the zombie. Unscoped: the zombie is stale once the newer
                // instance has committed something (if it committed nothing, the zombie's view is current).
                if (shards || applied > 0)
                  await expect(
                    zombie.commit({
                      bindings: [
                        { binding: 0, docs: [{ key: [1], doc: { id: 1, qty: 1e6 }, deleted: false }] },
                      ],
                      checkpoint: { 'acme/orders/shard-0': pos(stream2.length + 1) },
                    }),
                  ).rejects.toBeInstanceOf(FencedError);
                await zombie.close();
              }
              await runBatch(conn, batch);
              if (fault === 'crashAfter') continue; // committed but not acknowledged: redelivered
              at += batch.length;
            }
            expect(await tableRows(table)).toEqual(oracle(stream2));
            await conn.close();
          },
        ),
        { numRuns: 25, seed: 42 },
      );
    },
  );
});
