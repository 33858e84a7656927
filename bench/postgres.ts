/**
 * materialize-postgres throughput (rows/s), standard updates (load + upsert + checkpoint per transaction)
 * and delta updates (insert + checkpoint), next to a plain bulk upsert of the same rows with `pg`
 * (multi-row `INSERT … ON CONFLICT DO UPDATE`, 1,000 rows per statement, one transaction per batch)
 * measured in the same run against the same embedded PostgreSQL server. Prints the ratio.
 */
import { performance } from 'node:perf_hooks';
import { PostgresMaterialization } from '../shared/connectors/materialize-postgres.ts';
import type { JsonObject } from '../shared/json/types.ts';
import type { StoreDoc } from '../shared/materialize/connector.ts';
import { catalogWith, materialization } from '../test/connectors/fixtures.ts';
import { startPostgres } from '../test/support/postgres.ts';

const ROWS = Number(process.env.BENCH_PG_ROWS ?? 50_000);
const TXN = 5_000;

function row(i: number): JsonObject {
  return {
    id: i,
    customer: `customer-${i % 997}`,
    qty: i % 13,
    price: (i % 1000) / 7,
    paid: i % 2 === 0,
    at: new Date(1_700_000_000_000 + i * 1000).toISOString(),
    tags: ['a', `t${i % 5}`],
    address: { city: `city-${i % 50}` },
  };
}

const pos = (n: number) => `${String(n).padStart(128, '0')}:000000`;

export async function run(): Promise<void> {
  const server = await startPostgres();
  try {
    const config = {
      address: server.address,
      user: server.user,
      password: server.password,
      database: server.database,
      advanced: server.advanced,
    };
    const rows = Array.from({ length: ROWS }, (_, i) => row(i));
    const results: Record<string, number> = {};

    for (const delta of [false, true]) {
      const spec = materialization(`bench/${delta ? 'delta' : 'std'}`, 'materialize-postgres', config, [
        { table: delta ? 'bench_delta' : 'bench_std', delta_updates: delta },
      ]);
      const conn = await PostgresMaterialization.create({
        spec,
        catalog: catalogWith({ [spec.name]: spec }),
      });
      await conn.apply();
      await conn.open();
      const t0 = performance.now();
      for (let s = 0, n = 1; s < rows.length; s += TXN, n++) {
        const chunk = rows.slice(s, s + TXN);
        if (!delta)
          await conn.load(
            0,
            chunk.map((r) => [r.id as number]),
          );
        const docs: StoreDoc[] = chunk.map((r) => ({ key: [r.id as number], doc: r, deleted: false }));
        await conn.commit({ bindings: [{ binding: 0, docs }], checkpoint: { 'bench/shard-0': pos(n) } });
      }
      results[delta ? 'delta' : 'standard'] = rows.length / ((performance.now() - t0) / 1000);
      await conn.close();
    }

    // Plain pg: the hand-written baseline, same rows and columns, one transaction per TXN rows.
    const c = await server.client();
    await c.query(`CREATE TABLE bench_plain (
      order_id BIGINT PRIMARY KEY, customer TEXT, qty BIGINT, price DOUBLE PRECISION, paid BOOLEAN,
      at TIMESTAMPTZ, tags JSONB, address JSONB, city TEXT, flow_document JSONB NOT NULL)`);
    const t0 = performance.now();
    for (let s = 0; s < rows.length; s += TXN) {
      await c.query('BEGIN');
      for (let b = s; b < Math.min(s + TXN, rows.length); b += 1000) {
        const part = rows.slice(b, Math.min(b + 1000, s + TXN, rows.length));
        const values: unknown[] = [];
        const tuples = part.map((r, i) => {
          values.push(
            r.id,
            r.customer,
            r.qty,
            r.price,
            r.paid,
            r.at,
            JSON.stringify(r.tags),
            JSON.stringify(r.address),
            (r.address as JsonObject).city,
            JSON.stringify(r),
          );
          return `(${Array.from({ length: 10 }, (_, k) => `$${i * 10 + k + 1}`).join(', ')})`;
        });
        await c.query(
          `INSERT INTO bench_plain VALUES ${tuples.join(', ')} ON CONFLICT (order_id) DO UPDATE SET
           customer = EXCLUDED.customer, qty = EXCLUDED.qty, price = EXCLUDED.price, paid = EXCLUDED.paid,
           at = EXCLUDED.at, tags = EXCLUDED.tags, address = EXCLUDED.address, city = EXCLUDED.city,
           flow_document = EXCLUDED.flow_document`,
          values,
        );
      }
      await c.query('COMMIT');
    }
    const plain = rows.length / ((performance.now() - t0) / 1000);
    await c.end();

    const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')} rows/s`;
    console.log(`rows: ${ROWS}, ${TXN} rows per transaction, PostgreSQL 18 (embedded, fsync off)`);
    console.log(`plain pg bulk upsert (baseline):        ${fmt(plain)}`);
    console.log(
      `materialize-postgres standard updates:  ${fmt(results.standard ?? 0)}  (${((results.standard ?? 0) / plain).toFixed(2)}x baseline; includes load + checkpoint)`,
    );
    console.log(
      `materialize-postgres delta updates:     ${fmt(results.delta ?? 0)}  (${((results.delta ?? 0) / plain).toFixed(2)}x baseline)`,
    );
  } finally {
    await server.stop();
  }
}
