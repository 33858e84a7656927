/**
 * source-postgres-batch: polls PostgreSQL tables (or queries) on the capture's `interval`.
 *
 * Config (Estuary's): `{address, user, password, database, advanced?: {sslmode}}`;
 * resource: `{name, schema = public, table = name, cursor: [columns], template?, limit = 10000}`.
 *
 * - With a cursor (e.g. `[updated_at]` or `[id]`): each poll reads rows after the last one read, in the
 *   order `ORDER BY <cursor columns> ASC NULLS FIRST, <primary key>`, at most `limit` rows (then
 *   `more: true`). The state holds the last row's cursor values and primary key (as text, compared by
 *   PostgreSQL in the columns' own types), so a restart resumes exactly after it: a page that ends inside a
 *   run of equal cursor values continues with the rest of the run (tie-broken by the primary key, looked up
 *   in pg_index). Without a primary key (a `template`, or a table without one) a full page is completed with
 *   every row of its last cursor value (one more query; the page may exceed `limit` by that run).
 *   NULL cursor values sort first: such rows are read once, before the others, and do not stop the cursor.
 *   Rows updated with an unchanged cursor value are not seen again (as in Estuary), nor are rows written
 *   later with a cursor value below the saved one (a NULL one included): use a cursor that every write
 *   advances. A state saved by an older version (cursor values only, no key) re-reads the rows of its last
 *   cursor value once (duplicates, never losses).
 * - Without a cursor: every poll re-reads the whole table (a full refresh).
 * - `template`: a query used instead of `SELECT * FROM <schema>.<table>`; the cursor filter and order are
 *   applied around it (`SELECT * FROM (<template>) AS q WHERE … ORDER BY …`).
 * - For large tables, an index on `(<cursor columns> NULLS FIRST, <primary key>)` serves the poll query.
 *
 * Documents: one per row, columns as properties (int8 within ±2^53 as numbers, beyond as strings;
 * numeric as strings; timestamps as RFC 3339 strings; json/jsonb parsed; bytea base64), plus
 * `_meta: {polled, index, op: "c"}`, where `polled` is the poll time and `index` the row's index in the
 * poll. Documents are keyed by the table's primary key (see `discover()`).
 */
import type pg from 'pg';
import type { CaptureSpec } from '../catalog/model.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { resolveConfigSecrets, type SecretResolver, validateConnectorJson } from './config.ts';
import { EndpointError } from './errors.ts';
import { connectPg, ident, type PgConnectionConfig, qualified } from './postgres-common.ts';
import type { CapturedDoc, DiscoveredBinding, PollingSource, PollResult } from './source.ts';

export interface SourcePostgresBatchResource {
  name: string;
  schema: string;
  table?: string;
  cursor: string[];
  template?: string;
  limit: number;
}

export interface SourcePostgresBatchOptions {
  spec: CaptureSpec;
  secret?: SecretResolver;
  /** Clock for `_meta/polled` (ms since epoch). */
  now?: () => number;
}

/**
 * Saved between polls: per binding name, the cursor tuple (text; NULL as null) and the tie-breaking key
 * (text) of the last row read. `key` is empty when there is nothing to tie-break by (the cursor holds the
 * primary key, or there is no primary key and pages end on whole runs of equal cursor values).
 */
export interface PostgresBatchState {
  bindings: Record<string, { cursor?: (string | null)[]; key?: string[] }>;
}

function toJsonValue(v: unknown, typeName: string): Json {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'string' && typeName === 'int8') {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  if (Array.isArray(v)) return v.map((x) => toJsonValue(x, ''));
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (isObject(v as Json)) return v as JsonObject;
  return String(v);
}

/** JSON Schema of a column, from its PostgreSQL type name (information_schema udt_name). */
function columnSchema(udt: string, nullable: boolean): JsonObject {
  const t = (x: JsonObject): JsonObject => {
    if (!nullable) return x;
    return typeof x.type === 'string' ? { ...x, type: [x.type, 'null'] } : x;
  };
  switch (udt) {
    case 'int2':
    case 'int4':
    case 'int8':
      return t({ type: 'integer' });
    case 'float4':
    case 'float8':
      return t({ type: 'number' });
    case 'numeric':
      return t({ type: 'string', format: 'number' });
    case 'bool':
      return t({ type: 'boolean' });
    case 'timestamptz':
    case 'timestamp':
      return t({ type: 'string', format: 'date-time' });
    case 'date':
      return t({ type: 'string', format: 'date' });
    case 'uuid':
      return t({ type: 'string', format: 'uuid' });
    case 'json':
    case 'jsonb':
      return {};
    default:
      return udt.startsWith('_') ? t({ type: 'array' }) : t({ type: 'string' });
  }
}

export class PostgresBatchSource implements PollingSource {
  private client: pg.Client | undefined;
  /** Per binding index: its tie-breaking key columns (see `tieBreaker`). */
  private readonly keys = new Map<number, string[] | undefined>();

  private constructor(
    private readonly spec: CaptureSpec,
    private readonly config: PgConnectionConfig,
    private readonly resources: SourcePostgresBatchResource[],
    private readonly now: () => number,
  ) {}

  static async create(opts: SourcePostgresBatchOptions): Promise<PostgresBatchSource> {
    const { spec } = opts;
    const config = validateConnectorJson<PgConnectionConfig>(
      'source-postgres-batch',
      'config',
      spec.endpoint.config,
      `${spec.name}/endpoint/connector/config`,
    );
    await resolveConfigSecrets('source-postgres-batch', config, opts.secret);
    const resources = spec.bindings.map((b, i) =>
      validateConnectorJson<SourcePostgresBatchResource>(
        'source-postgres-batch',
        'resource',
        b.resource,
        `${spec.name}/bindings/${i}/resource`,
      ),
    );
    return new PostgresBatchSource(spec, config, resources, opts.now ?? Date.now);
  }

  private async db(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.client = await connectPg(this.config, (broken) => {
      if (this.client === broken) this.client = undefined;
    });
    return this.client;
  }

  private source(r: SourcePostgresBatchResource): string {
    return r.template ? `(${r.template})` : qualified(r.schema, r.table ?? r.name);
  }

  /** The collection key (the table's primary key columns as pointers) and a JSON Schema per binding. */
  async discover(): Promise<DiscoveredBinding[]> {
    const c = await this.db();
    const out: DiscoveredBinding[] = [];
    for (const [i, r] of this.resources.entries()) {
      const table = r.table ?? r.name;
      const pk = await c.query<{ attname: string }>(PRIMARY_KEY_SQL, [qualified(r.schema, table)]);
      const cols = await c.query<{ column_name: string; udt_name: string; is_nullable: string }>(
        `SELECT column_name, udt_name, is_nullable FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [r.schema, table],
      );
      const properties: JsonObject = {};
      for (const col of cols.rows)
        properties[col.column_name] = columnSchema(col.udt_name, col.is_nullable === 'YES');
      const key = pk.rows.map((x) => `/${x.attname.replaceAll('~', '~0').replaceAll('/', '~1')}`);
      out.push({
        binding: i,
        key,
        schema: {
          type: 'object',
          required: pk.rows.map((x) => x.attname),
          properties: { ...properties, _meta: { type: 'object' } },
        },
      });
    }
    return out;
  }

  /**
   * The columns that break ties between rows of equal cursor values: the table's primary key columns
   * that are not cursor columns (none when the cursor already holds the whole key), or undefined when
   * there is no primary key to use (a `template` query, or a table without one).
   */
  private async tieBreaker(i: number, r: SourcePostgresBatchResource): Promise<string[] | undefined> {
    if (this.keys.has(i)) return this.keys.get(i);
    let key: string[] | undefined;
    if (!r.template) {
      const c = await this.db();
      let res: pg.QueryResult<{ attname: string }>;
      try {
        res = await c.query<{ attname: string }>(PRIMARY_KEY_SQL, [qualified(r.schema, r.table ?? r.name)]);
      } catch (err) {
        throw new EndpointError(
          'PostgresQuery',
          this.config.address,
          `binding ${i} (${r.name}): ${(err as Error).message}`,
        );
      }
      if (res.rows.length > 0) key = res.rows.map((x) => x.attname).filter((k) => !r.cursor.includes(k));
    }
    this.keys.set(i, key);
    return key;
  }

  private async query(
    i: number,
    r: SourcePostgresBatchResource,
    sql: string,
    params: string[],
  ): Promise<pg.QueryResult<Record<string, unknown>>> {
    const c = await this.db();
    try {
      return await c.query<Record<string, unknown>>(sql, params);
    } catch (err) {
      throw new EndpointError(
        'PostgresQuery',
        this.config.address,
        `binding ${i} (${r.name}): ${(err as Error).message}`,
      );
    }
  }

  async poll(stateJson: Json | undefined): Promise<PollResult> {
    const state: PostgresBatchState =
      isObject(stateJson) && isObject(stateJson.bindings)
        ? (structuredClone(stateJson) as unknown as PostgresBatchState)
        : { bindings: {} };
    const docs: CapturedDoc[] = [];
    let more = false;
    const polled = new Date(this.now()).toISOString();
    for (const [i, r] of this.resources.entries()) {
      if (this.spec.bindings[i]?.disable) continue;
      const cur = r.cursor.map((col) => `q.${ident(col)}`);
      const texts = (cols: string[], prefix: string) =>
        cols.map((col, j) => `, ${col}::text AS "${prefix}${j}"`).join('');
      const from = this.source(r);
      let rows: Record<string, unknown>[];
      let fields: pg.FieldDef[];
      let tie: string[] | undefined;
      if (cur.length === 0) {
        const res = await this.query(i, r, `SELECT q.* FROM ${from} AS q`, []);
        rows = res.rows;
        fields = res.fields;
      } else {
        tie = await this.tieBreaker(i, r);
        const tieCols = (tie ?? []).map((col) => `q.${ident(col)}`);
        const saved = state.bindings[r.name];
        const params: string[] = [];
        const where: string[] = [];
        if (saved?.cursor && saved.cursor.length === cur.length) {
          if (Array.isArray(saved.key) && saved.key.length === tieCols.length) {
            // after the last row read: (cursor, key) > (its cursor, its key)
            where.push(...after([...cur, ...tieCols], [...saved.cursor, ...saved.key], params, true));
          } else {
            // a state without the key of its last row (an older version, or the primary key changed): that
            // row may have been inside a run of equal cursor values, so the run is read again (at least once)
            where.push(...after(cur, saved.cursor, params, false));
          }
        }
        const order = [...cur.map((col) => `${col} ASC NULLS FIRST`), ...tieCols.map((col) => `${col} ASC`)];
        const select = `SELECT q.*${texts(cur, CURSOR_COL)}${texts(tieCols, KEY_COL)} FROM ${from} AS q`;
        const sql = (conds: string[], limit: boolean) =>
          `${select}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${order.join(', ')}${limit ? ` LIMIT ${r.limit}` : ''}`;
        let res = await this.query(i, r, sql(where, true), params);
        if (res.rows.length >= r.limit) {
          more = true;
          if (tie === undefined) {
            // No key to tie-break by: the page may end inside a run of equal cursor values, so it is read
            // again up to and including its last cursor value, whole (a page can exceed `limit` by one run).
            const lastRow = res.rows[res.rows.length - 1] as Record<string, unknown>;
            const lastCursor = cur.map((_, j) => (lastRow[`${CURSOR_COL}${j}`] as string | null) ?? null);
            const upTo = [...params];
            const conds = [...where, `NOT ${tupleAfter(cur, lastCursor, upTo, true)}`];
            res = await this.query(i, r, sql(conds, false), upTo);
          }
        }
        rows = res.rows;
        fields = res.fields;
      }
      const typeNames = new Map(fields.map((f) => [f.name, pgTypeName(f.dataTypeID)]));
      rows.forEach((row, index) => {
        const doc: JsonObject = {};
        for (const [k, v] of Object.entries(row)) {
          if (k.startsWith(CURSOR_COL) || k.startsWith(KEY_COL)) continue;
          doc[k] = toJsonValue(v, typeNames.get(k) ?? '');
        }
        doc._meta = { polled, index, op: 'c' };
        docs.push({ binding: i, doc });
      });
      const tail = rows[rows.length - 1];
      if (cur.length > 0 && tail) {
        state.bindings[r.name] = {
          cursor: cur.map((_, j) => (tail[`${CURSOR_COL}${j}`] as string | null) ?? null),
          key: (tie ?? []).map((_, j) => String(tail[`${KEY_COL}${j}`])),
        };
      }
    }
    return { docs, state: state as unknown as Json, more };
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}

const CURSOR_COL = '__sluice_cursor_';
const KEY_COL = '__sluice_key_';

const PRIMARY_KEY_SQL = `SELECT a.attname FROM pg_index i
   JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n`;

/**
 * `(cols) > (vals)` (or `>=` when not `strict`) in the order `ORDER BY col ASC NULLS FIRST, …`: NULL sorts
 * before every value. Expanded per column, as `(c1 > v1) OR (c1 = v1 AND c2 > v2) OR …`, with every term
 * written so that it is TRUE or FALSE, never NULL (so it can be negated). Non-null values are pushed to
 * `params` (text, cast by PostgreSQL to the column's type).
 */
function tupleAfter(cols: string[], vals: (string | null)[], params: string[], strict: boolean): string {
  const p = (v: string) => {
    params.push(v);
    return `$${params.length}`;
  };
  const refs = vals.map((v) => (v === null ? null : p(v)));
  const eq = (c: string, v: string | null) =>
    v === null ? `${c} IS NULL` : `(${c} IS NOT NULL AND ${c} = ${v})`;
  const gt = (c: string, v: string | null) =>
    v === null ? `${c} IS NOT NULL` : `(${c} IS NOT NULL AND ${c} > ${v})`;
  const terms = cols.map((c, i) => [
    ...cols.slice(0, i).map((d, j) => eq(d, refs[j] ?? null)),
    gt(c, refs[i] ?? null),
  ]);
  if (!strict) terms.push(cols.map((c, i) => eq(c, refs[i] ?? null)));
  return `(${terms.map((t) => `(${t.join(' AND ')})`).join(' OR ')})`;
}

/**
 * WHERE conditions for rows after `vals`: the tuple comparison, plus `c1 >= v1` when v1 is not NULL
 * (implied by it, but usable by an index on the first cursor column).
 */
function after(cols: string[], vals: (string | null)[], params: string[], strict: boolean): string[] {
  const out = [tupleAfter(cols, vals, params, strict)];
  const first = params.length - vals.filter((v) => v !== null).length + 1;
  if (vals[0] !== null && vals[0] !== undefined) out.push(`${cols[0]} >= $${first}`);
  return out;
}

const TYPE_NAMES: Record<number, string> = { 20: 'int8', 1700: 'numeric', 114: 'json', 3802: 'jsonb' };
function pgTypeName(oid: number): string {
  return TYPE_NAMES[oid] ?? '';
}
