import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorConfigError, EndpointError } from '../../shared/connectors/errors.ts';
import type { CapturedDoc } from '../../shared/connectors/source.ts';
import { orderedNumber, PostgresBatchSource } from '../../shared/connectors/source-postgres-batch.ts';
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
  return {
    address: server.address,
    user: server.user,
    password: server.password,
    database: server.database,
    advanced: server.advanced,
  };
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
      _meta: { op: 'c' },
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
    // origins (exactly once): one source per binding, positions increasing in poll order across polls —
    // the updated row 2 comes after everything before it — and the uuid time is the row's cursor time
    const all = [...p1.docs, ...p2.docs, ...p4.docs];
    expect(new Set(all.map((d) => d.origin?.source))).toEqual(new Set(['orders']));
    const positions = all.map((d) => d.origin?.position ?? '');
    expect(positions.every((p, i) => i === 0 || p > (positions[i - 1] ?? ''))).toBe(true);
    expect(p4.docs[0]?.origin?.ms).toBe(Date.parse('2024-01-02T00:00:00Z'));
    await again.close();
  });

  it('positions order numbers as PostgreSQL does (orderedNumber)', () => {
    const values = [
      '-Infinity',
      '-1e+20',
      '-100',
      '-5',
      '-1.25',
      '-1.2',
      '-0.001',
      '0',
      '0.00',
      '1e-05',
      '0.5',
      '1',
      '1.2',
      '1.25',
      '9.99',
      '10',
      '1.5e+20',
      '123456789012345678901234567890',
      'Infinity',
      'NaN',
    ];
    const enc = [...new Set(values.map(orderedNumber))]; // ascending, '0' and '0.00' one value
    expect(enc).toHaveLength(values.length - 1);
    expect([...enc].sort()).toEqual(enc);
    expect(orderedNumber('0.00')).toBe(orderedNumber('0'));
    expect(orderedNumber('12.50')).toBe(orderedNumber('12.5'));
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
    // a query has no primary key: its state has an empty key (its pages end on whole runs of the cursor)
    const t1 = await tpl.poll({ bindings: { big_orders: { cursor: ['1'], key: [] } } });
    expect(t1.docs.map((d) => d.doc.customer)).toEqual(['bob2', 'dee']);
    expect(t1.state).toEqual({
      at: expect.any(Number),
      bindings: { big_orders: { cursor: ['4'], key: [] } },
    });
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

/** Poll until the source has nothing more; every page's documents in order, and the last state. */
async function drain(
  src: PostgresBatchSource,
  state: Json | undefined,
  maxPolls = 100,
): Promise<{ docs: JsonObject[]; pages: JsonObject[][]; state: Json }> {
  const pages: JsonObject[][] = [];
  let s = state;
  for (let i = 0; i < maxPolls; i++) {
    const p = await src.poll(s);
    pages.push(p.docs.map((d) => d.doc));
    // the saved state goes through JSON (the capture state object)
    s = JSON.parse(JSON.stringify(p.state)) as Json;
    if (!p.more) return { docs: pages.flat(), pages, state: s as Json };
  }
  throw new Error(`still more after ${maxPolls} polls`);
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('source-postgres-batch: nullable cursors, ties and restarts', () => {
  it('rows with a NULL cursor are read once, first, and never block later rows', async () => {
    await admin.query(`CREATE TABLE nulls (id BIGSERIAL PRIMARY KEY, seq INT, v TEXT)`);
    await admin.query(
      `INSERT INTO nulls (seq, v) VALUES (3,'a'), (NULL,'b'), (1,'c'), (NULL,'d'), (2,'e'), (NULL,'f'), (5,'g')`,
    );
    const src = await source([{ name: 'nulls', cursor: ['seq'], limit: 2 }]);
    const first = await drain(src, undefined);
    // NULLS FIRST (by primary key), then by cursor
    expect(first.docs.map((d) => d.v)).toEqual(['b', 'd', 'f', 'c', 'e', 'a', 'g']);
    // rows written later with a greater cursor are still seen (the NULLs did not stop the cursor)
    await admin.query(`INSERT INTO nulls (seq, v) VALUES (6,'h'), (7,'i')`);
    const later = await drain(src, first.state);
    expect(later.docs.map((d) => d.v)).toEqual(['h', 'i']);
    expect((await drain(src, later.state)).docs).toEqual([]);
    await src.close();
  });

  it('a run of 2×limit equal cursor values is paged by the primary key without skipping any', async () => {
    await admin.query(`CREATE TABLE ties (id BIGSERIAL PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, v TEXT)`);
    await admin.query(
      `INSERT INTO ties (ts, v) SELECT '2024-01-01T00:00:01Z', 'run' || g FROM generate_series(1, 6) g`,
    );
    await admin.query(`INSERT INTO ties (ts, v) VALUES ('2024-01-01T00:00:00Z', 'before')`);
    await admin.query(`INSERT INTO ties (ts, v) VALUES ('2024-01-01T00:00:02Z', 'after')`);
    const src = await source([{ name: 'ties', cursor: ['ts'], limit: 3 }]);
    const all = await drain(src, undefined);
    expect(all.docs.map((d) => d.v)).toEqual([
      'before',
      'run1',
      'run2',
      'run3',
      'run4',
      'run5',
      'run6',
      'after',
    ]);
    expect(all.pages.slice(0, 3).map((p) => p.length)).toEqual([3, 3, 2]);
    // the state names the last row: its cursor and primary key
    const p1 = await src.poll(undefined);
    expect((p1.state as { bindings: Record<string, JsonObject> }).bindings.ties).toMatchObject({
      key: ['2'],
    });
    await src.close();

    // a query (no primary key to tie-break by): a page is completed with the rest of its last run
    const tpl = await source([
      { name: 'ties_q', template: 'SELECT ts, v FROM ties', cursor: ['ts'], limit: 3 },
    ]);
    const q = await drain(tpl, undefined);
    expect(q.docs.map((d) => d.v).sort()).toEqual(
      ['before', 'run1', 'run2', 'run3', 'run4', 'run5', 'run6', 'after'].sort(),
    );
    expect(q.pages[0]?.length).toBe(7);
    expect(q.pages[1]?.map((d) => d.v)).toEqual(['after']);
    await tpl.close();
  });

  it('a nullable composite cursor with many ties: every row exactly once, for any page size, with or without a key', async () => {
    await admin.query(`CREATE TABLE mix (id INT PRIMARY KEY, a INT, b TEXT)`);
    const rand = rng(42);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const rows = Array.from({ length: 120 }, (_, i) => ({
      id: i + 1,
      a: pick([null, 0, 1, 2]),
      b: pick([null, 'x', 'y', 'z']),
    }));
    // ids in shuffled insert order, so physical order is not key order
    for (const r of [...rows].sort(() => rand() - 0.5))
      await admin.query('INSERT INTO mix VALUES ($1, $2, $3)', [r.id, r.a, r.b]);
    const cmp = (x: unknown, y: unknown): number =>
      x === y
        ? 0
        : x === null
          ? -1
          : y === null
            ? 1
            : (x as number | string) < (y as number | string)
              ? -1
              : 1;
    const expected = [...rows].sort((x, y) => cmp(x.a, y.a) || cmp(x.b, y.b) || x.id - y.id).map((r) => r.id);
    for (const limit of [1, 3, 7, 50]) {
      const keyed = await source([{ name: 'mix', cursor: ['a', 'b'], limit }]);
      const k = await drain(keyed, undefined, 200);
      expect(k.docs.map((d) => d.id)).toEqual(expected);
      await keyed.close();
      const unkeyed = await source([
        { name: 'mix_q', template: 'SELECT * FROM mix', cursor: ['a', 'b'], limit },
      ]);
      const u = await drain(unkeyed, undefined, 200);
      const ids = u.docs.map((d) => d.id as number);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort((x, y) => x - y)).toEqual(rows.map((r) => r.id));
      // in cursor order
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (let i = 1; i < ids.length; i++) {
        const x = byId.get(ids[i - 1] as number);
        const y = byId.get(ids[i] as number);
        expect(cmp(x?.a, y?.a) || cmp(x?.b, y?.b)).toBeLessThanOrEqual(0);
      }
      await unkeyed.close();
    }
  });

  it('a restart (new instance, state through JSON) mid-run loses and repeats nothing', async () => {
    await admin.query(`CREATE TABLE restart (id BIGSERIAL PRIMARY KEY, at INT, v TEXT)`);
    await admin.query(
      `INSERT INTO restart (at, v) SELECT CASE WHEN g % 3 = 0 THEN NULL ELSE 10 END, 'r' || g FROM generate_series(1, 9) g`,
    );
    const a = await source([{ name: 'restart', cursor: ['at'], limit: 2 }]);
    const p1 = await a.poll(undefined);
    const p2 = await a.poll(p1.state);
    const p3 = await a.poll(p2.state);
    expect(p3.more).toBe(true);
    await a.close();
    const seen = [...p1.docs, ...p2.docs, ...p3.docs].map((d) => d.doc.v);
    // written while stopped: one more row in the current run (a higher key), and later rows
    await admin.query(
      `INSERT INTO restart (at, v) VALUES (10, 'late-in-run'), (11, 'later'), (NULL, 'late-null')`,
    );
    const b = await source([{ name: 'restart', cursor: ['at'], limit: 2 }]);
    const rest = await drain(b, JSON.parse(JSON.stringify(p3.state)) as Json);
    await b.close();
    const all = [...seen, ...rest.docs.map((d) => d.v)];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(['r3', 'r6', 'r9', 'r1', 'r2', 'r4', 'r5', 'r7', 'r8', 'late-in-run', 'later']);
    // a row whose cursor is NULL, written after the NULL rows were read, sorts before the saved cursor
    // (documented: like a row written with an old cursor value)
  });

  it('a state saved by an older version (cursor only) re-reads the run of its last value rather than skip it', async () => {
    await admin.query(`CREATE TABLE legacy (id INT PRIMARY KEY, c INT NOT NULL)`);
    await admin.query(`INSERT INTO legacy VALUES (1, 1), (2, 2), (3, 2), (4, 3)`);
    const src = await source([{ name: 'legacy', cursor: ['c'], limit: 10 }]);
    // an old state could have stopped inside the run of c = 2 (after id 2)
    const p = await src.poll({ bindings: { legacy: { cursor: ['2'] } } });
    expect(p.docs.map((d) => d.doc.id)).toEqual([2, 3, 4]);
    expect(p.state).toEqual({ at: expect.any(Number), bindings: { legacy: { cursor: ['3'], key: ['4'] } } });
    await src.close();
  });
});

describe('source-postgres-batch: origins (exactly once)', () => {
  it('text keys tie-break by bytes (COLLATE "C"): positions increase in poll order over every page, equal on a re-poll', async () => {
    // names whose order differs between a linguistic collation (ICU root, not the database default,
    // which may be C) and bytes: case, accents, punctuation
    await admin.query(`CREATE TABLE named (name TEXT COLLATE "und-x-icu" PRIMARY KEY, n INT, v NUMERIC)`);
    const names = [
      'b',
      'B',
      'a',
      'A',
      'é',
      'e',
      'z',
      'Z',
      '_x',
      'x-1',
      'x1',
      'ab',
      'a b',
      'ä',
      '日本',
      '10',
      '9',
    ];
    for (const [i, name] of names.entries())
      await admin.query(`INSERT INTO named VALUES ($1, $2, $3)`, [
        name,
        i % 3 === 0 ? null : i % 2,
        `${i - 8}.5`,
      ]);
    for (const limit of [1, 2, 5, 100]) {
      const src = await source([{ name: 'named', cursor: ['n'], limit }]);
      const docs: CapturedDoc[] = [];
      let s: Json | undefined;
      for (let k = 0; k < 100; k++) {
        const p = await src.poll(s);
        // a re-poll from the same state (a crash before the save) gives the same documents and origins
        expect((await src.poll(s)).docs).toEqual(p.docs);
        docs.push(...p.docs);
        s = JSON.parse(JSON.stringify(p.state)) as Json;
        if (!p.more) break;
      }
      expect(docs.map((d) => d.doc.name).sort()).toEqual([...names].sort()); // each row once
      const positions = docs.map((d) => d.origin?.position ?? '');
      expect(positions.every((p, i) => i === 0 || p > (positions[i - 1] ?? ''))).toBe(true);
      // the cursor is not a timestamp: the uuid time is the state's, not the clock's at the re-poll
      expect(new Set(docs.map((d) => d.origin?.source))).toEqual(new Set(['named']));
      await src.close();
    }
  });

  it('a numeric cursor orders by value, a table without a usable key gets no origin (at least once)', async () => {
    await admin.query(`CREATE TABLE amounts (id INT PRIMARY KEY, amt NUMERIC)`);
    await admin.query(
      `INSERT INTO amounts VALUES (1, -10.5), (2, 2), (3, 10), (4, -2.25), (5, 0), (6, 1e20)`,
    );
    const src = await source([{ name: 'amounts', cursor: ['amt'], limit: 2 }]);
    const { pages } = await drain(src, undefined);
    expect(pages.flat().map((d) => d.id)).toEqual([1, 4, 5, 2, 3, 6]);
    const all: CapturedDoc[] = [];
    let s: Json | undefined;
    for (;;) {
      const p = await src.poll(s);
      all.push(...p.docs);
      s = p.state;
      if (!p.more) break;
    }
    const positions = all.map((d) => d.origin?.position ?? '');
    expect(positions.every((p, i) => i === 0 || p > (positions[i - 1] ?? ''))).toBe(true);
    await src.close();
    await admin.query(`CREATE TABLE nokey (seq INT, v TEXT)`);
    await admin.query(`INSERT INTO nokey VALUES (1, 'a'), (1, 'b')`);
    const nokey = await source([{ name: 'nokey', cursor: ['seq'] }]);
    const p = await nokey.poll(undefined);
    expect(p.docs.map((d) => d.origin)).toEqual([undefined, undefined]);
    await nokey.close();
  });
});
