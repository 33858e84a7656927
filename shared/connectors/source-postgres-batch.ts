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
 * `_meta: {op: "c"}`. Nothing in a document depends on when it was polled, so a row read again is the
 * same document. Documents are keyed by the table's primary key (see `discover()`).
 *
 * Exactly once (source.ts): with a cursor and a primary key, each row's origin is
 * `<capture>/<binding name>@<position>`, the position an order-preserving encoding of the row's
 * (cursor values, primary key) — the page order — so a row re-polled after a crash has the position it had
 * (dropped downstream) and every later row or row version has a greater one. For that the comparison and
 * the encoding must agree: text-like cursor and key columns are ordered `COLLATE "C"` (bytes, what the
 * encoding compares; an index serving the poll must then use it too), numbers and timestamps by value.
 * `_meta/uuid` is derived from the same origin. A binding without a primary key (a `template`, or a table
 * without one), without a cursor (full refresh), or with a cursor or key column of another type (e.g.
 * bpchar, time, bool) gets no origin: a re-poll after a crash appends its rows again (at least once).
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
  /** Clock (ms since epoch) for the `_meta/uuid` time of rows without a timestamp cursor. */
  now?: () => number;
}

/**
 * Saved between polls: per binding name, the cursor tuple (text; NULL as null) and the tie-breaking key
 * (text) of the last row read. `key` is empty when there is nothing to tie-break by (the cursor holds the
 * primary key, or there is no primary key and pages end on whole runs of equal cursor values).
 */
export interface PostgresBatchState {
  bindings: Record<string, { cursor?: (string | null)[]; key?: string[] }>;
  /**
   * When this state was made (ms): the `_meta/uuid` time of the next poll's rows when their cursor is not a
   * timestamp. Taken from the state, not the clock, so that a re-poll from this state gives the same uuids.
   */
  at?: number;
}

/** How a cursor or key column's values are encoded into an origin position (see `orderedValue`). */
type OrderKind = 'number' | 'time' | 'uuid' | 'text';

/** Column types whose PostgreSQL order the position encoding reproduces, by type OID. */
const ORDER_KINDS: Record<number, OrderKind> = {
  20: 'number', // int8
  21: 'number', // int2
  23: 'number', // int4
  26: 'number', // oid
  700: 'number', // float4
  701: 'number', // float8
  1700: 'number', // numeric
  1082: 'time', // date
  1114: 'time', // timestamp
  1184: 'time', // timestamptz
  2950: 'uuid',
  19: 'text', // name
  25: 'text',
  1043: 'text', // varchar
};

/**
 * A decimal (PostgreSQL's text of a number: `-12.50`, `1.5e+20`, `NaN`, `Infinity`) as a string whose
 * plain string order is the numbers' order (PostgreSQL's: -Infinity < negatives < 0 < positives <
 * Infinity < NaN). The value is 0.d1d2… × 10^e: a class letter, the exponent (offset, 6 digits), then the
 * significant digits; for negatives the exponent and digits are complemented and end with `~`, so a
 * longer magnitude sorts first. Every character is above `,`, the separator of `orderedTuple`.
 */
export function orderedNumber(text: string): string {
  const t = text.trim();
  if (t === 'NaN') return 'r';
  if (t === 'Infinity' || t === '+Infinity') return 'q';
  if (t === '-Infinity') return 'm';
  const m = /^([+-])?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(t);
  if (!m || `${m[2] ?? ''}${m[3] ?? ''}` === '') throw new Error(`not a number: ${JSON.stringify(text)}`);
  let digits = `${m[2] ?? ''}${m[3] ?? ''}`;
  let exp = (m[2] ?? '').length + Number(m[4] ?? 0);
  const lead = /^0*/.exec(digits)?.[0].length ?? 0;
  digits = digits.slice(lead).replace(/0+$/, '');
  exp -= lead;
  if (digits === '') return 'o';
  const e = exp + 500_000;
  if (e < 0 || e > 999_999) throw new Error(`number out of range for a position: ${text}`);
  if (m[1] !== '-') return `p${String(e).padStart(6, '0')}${digits}`;
  const complement = [...digits].map((d) => String(9 - Number(d))).join('');
  return `n${String(999_999 - e).padStart(6, '0')}${complement}~`;
}

/** One cursor or key value (its position text: see `positionExpr`) encoded per its kind; NULL first. */
function orderedValue(kind: OrderKind, v: string | null): string {
  if (v === null) return '0';
  switch (kind) {
    case 'number':
    case 'time':
      return `1${orderedNumber(v)}`;
    case 'uuid':
      return `1${v.toLowerCase()}`; // fixed width, hex: text order is byte order
    case 'text':
      return `1${Buffer.from(v, 'utf8').toString('hex')}`; // COLLATE "C" compares the UTF-8 bytes
  }
}

/** A row's (cursor, key) tuple as an origin position: values joined by `,`, which sorts below every value. */
export function orderedTuple(kinds: OrderKind[], values: (string | null)[]): string {
  return kinds.map((k, i) => orderedValue(k, values[i] ?? null)).join(',');
}

/** The SQL expression whose text `orderedValue` encodes: seconds since the epoch for times. */
function positionExpr(kind: OrderKind, col: string): string {
  return kind === 'time' ? `extract(epoch from ${col})::text` : `${col}::text`;
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
  /** Per binding index: the type OID of each column of its rows (see `columnTypes`). */
  private readonly types = new Map<number, Map<string, number>>();

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

  /** The type OID of each column the binding's query returns (one `LIMIT 0` query, cached). */
  private async columnTypes(i: number, r: SourcePostgresBatchResource): Promise<Map<string, number>> {
    const known = this.types.get(i);
    if (known) return known;
    const res = await this.query(i, r, `SELECT q.* FROM ${this.source(r)} AS q LIMIT 0`, []);
    const types = new Map(res.fields.map((f) => [f.name, f.dataTypeID]));
    this.types.set(i, types);
    return types;
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

  /** Nothing read yet, and the time of the first poll's uuids (see `at`). */
  initialState(): Json {
    return { bindings: {}, at: this.now() };
  }

  async poll(stateJson: Json | undefined): Promise<PollResult> {
    const state: PostgresBatchState =
      isObject(stateJson) && isObject(stateJson.bindings)
        ? (structuredClone(stateJson) as unknown as PostgresBatchState)
        : { bindings: {} };
    const docs: CapturedDoc[] = [];
    let more = false;
    // The uuid time of rows without a timestamp cursor: when the state polled from was made (see `at`).
    const base = typeof state.at === 'number' ? state.at : this.now();
    for (const [i, r] of this.resources.entries()) {
      if (this.spec.bindings[i]?.disable) continue;
      const texts = (cols: string[], prefix: string) =>
        cols.map((col, j) => `, ${col}::text AS "${prefix}${j}"`).join('');
      const from = this.source(r);
      let rows: Record<string, unknown>[];
      let fields: pg.FieldDef[];
      let tie: string[] | undefined;
      /** The order kinds of (cursor, key) when every row gets an origin, else undefined. */
      let kinds: OrderKind[] | undefined;
      let cur = r.cursor.map((col) => `q.${ident(col)}`);
      if (cur.length === 0) {
        const res = await this.query(i, r, `SELECT q.* FROM ${from} AS q`, []);
        rows = res.rows;
        fields = res.fields;
      } else {
        tie = await this.tieBreaker(i, r);
        if (tie !== undefined) {
          const types = await this.columnTypes(i, r);
          const ks = [...r.cursor, ...tie].map((col) => ORDER_KINDS[types.get(col) ?? -1]);
          if (ks.every((k) => k !== undefined)) kinds = ks as OrderKind[];
        }
        // Text columns ordered and compared by bytes when rows get origins: what orderedTuple encodes.
        const ordered = (col: string, j: number) =>
          kinds?.[j] === 'text' ? `q.${ident(col)} COLLATE "C"` : `q.${ident(col)}`;
        cur = r.cursor.map(ordered);
        const tieCols = (tie ?? []).map((col, j) => ordered(col, r.cursor.length + j));
        const rawCols = [...r.cursor, ...(tie ?? [])].map((col) => `q.${ident(col)}`);
        const positions = kinds
          ? rawCols.map((col, j) => `, ${positionExpr(kinds![j]!, col)} AS "${POS_COL}${j}"`).join('')
          : '';
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
        const select = `SELECT q.*${texts(rawCols.slice(0, cur.length), CURSOR_COL)}${texts(rawCols.slice(cur.length), KEY_COL)}${positions} FROM ${from} AS q`;
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
      for (const row of rows) {
        const doc: JsonObject = {};
        for (const [k, v] of Object.entries(row)) {
          if (k.startsWith(CURSOR_COL) || k.startsWith(KEY_COL) || k.startsWith(POS_COL)) continue;
          doc[k] = toJsonValue(v, typeNames.get(k) ?? '');
        }
        doc._meta = { op: 'c' };
        if (!kinds) {
          docs.push({ binding: i, doc });
          continue;
        }
        const values = kinds.map((_, j) => (row[`${POS_COL}${j}`] as string | null) ?? null);
        // A timestamp cursor is the row's own time (its update): the uuid's time, the same on every read.
        const first = values[0];
        const seconds = kinds[0] === 'time' && first !== null ? Number(first) : Number.NaN;
        docs.push({
          binding: i,
          doc,
          origin: {
            source: r.name,
            position: orderedTuple(kinds, values),
            ms: Number.isFinite(seconds) ? Math.round(seconds * 1000) : base,
          },
        });
      }
      const tail = rows[rows.length - 1];
      if (cur.length > 0 && tail) {
        state.bindings[r.name] = {
          cursor: cur.map((_, j) => (tail[`${CURSOR_COL}${j}`] as string | null) ?? null),
          key: (tie ?? []).map((_, j) => String(tail[`${KEY_COL}${j}`])),
        };
      }
    }
    // Strictly later than the state polled from, even if the clock stepped back.
    state.at = Math.max(this.now(), base + 1);
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
const POS_COL = '__sluice_pos_';

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
