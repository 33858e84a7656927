/**
 * source-postgres-batch: polls PostgreSQL tables (or queries) on the capture's `interval`.
 *
 * Config (Estuary's): `{address, user, password, database, advanced?: {sslmode}}`;
 * resource: `{name, schema = public, table = name, cursor: [columns], template?, limit = 10000}`.
 *
 * - With a cursor (e.g. `[updated_at]` or `[id]`): each poll reads rows whose cursor tuple is strictly
 *   greater than the last one seen, in cursor order, at most `limit` rows (then `more: true`). The state
 *   holds the last cursor values (as text, compared by PostgreSQL in the column's own type), so a restart
 *   resumes where it stopped. Rows updated with an unchanged cursor value are not seen again (as in Estuary):
 *   use a cursor that every write advances.
 * - Without a cursor: every poll re-reads the whole table (a full refresh).
 * - `template`: a query used instead of `SELECT * FROM <schema>.<table>`; the cursor filter and order are
 *   applied around it (`SELECT * FROM (<template>) AS q WHERE … ORDER BY …`).
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

/** Saved between polls: per binding name, the last cursor tuple seen (text). */
export interface PostgresBatchState {
  bindings: Record<string, { cursor?: (string | null)[] }>;
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
      const pk = await c.query<{ attname: string }>(
        `SELECT a.attname FROM pg_index i
           JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n`,
        [qualified(r.schema, table)],
      );
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

  async poll(stateJson: Json | undefined): Promise<PollResult> {
    const state: PostgresBatchState =
      isObject(stateJson) && isObject(stateJson.bindings)
        ? (structuredClone(stateJson) as unknown as PostgresBatchState)
        : { bindings: {} };
    const c = await this.db();
    const docs: CapturedDoc[] = [];
    let more = false;
    const polled = new Date(this.now()).toISOString();
    for (const [i, r] of this.resources.entries()) {
      if (this.spec.bindings[i]?.disable) continue;
      const last = state.bindings[r.name]?.cursor;
      const cur = r.cursor.map(ident);
      const params: (string | null)[] = [];
      let sql = `SELECT q.*${cur.map((col, j) => `, q.${col}::text AS "__sluice_cursor_${j}"`).join('')} FROM ${this.source(r)} AS q`;
      if (cur.length > 0) {
        if (last && last.length === cur.length) {
          params.push(...last);
          sql += ` WHERE (${cur.map((col) => `q.${col}`).join(', ')}) > (${cur.map((_, j) => `$${j + 1}`).join(', ')})`;
        }
        sql += ` ORDER BY ${cur.map((col) => `q.${col}`).join(', ')} LIMIT ${r.limit}`;
      }
      let res: pg.QueryResult<Record<string, unknown>>;
      try {
        res = await c.query<Record<string, unknown>>(sql, params);
      } catch (err) {
        throw new EndpointError(
          'PostgresQuery',
          this.config.address,
          `binding ${i} (${r.name}): ${(err as Error).message}`,
        );
      }
      const typeNames = new Map(res.fields.map((f) => [f.name, pgTypeName(f.dataTypeID)]));
      res.rows.forEach((row, index) => {
        const doc: JsonObject = {};
        for (const [k, v] of Object.entries(row)) {
          if (k.startsWith('__sluice_cursor_')) continue;
          doc[k] = toJsonValue(v, typeNames.get(k) ?? '');
        }
        doc._meta = { polled, index, op: 'c' };
        docs.push({ binding: i, doc });
      });
      const tail = res.rows[res.rows.length - 1];
      if (cur.length > 0 && tail) {
        state.bindings[r.name] = {
          cursor: cur.map((_, j) => (tail[`__sluice_cursor_${j}`] as string | null) ?? null),
        };
        if (res.rows.length >= r.limit) more = true;
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

const TYPE_NAMES: Record<number, string> = { 20: 'int8', 1700: 'numeric', 114: 'json', 3802: 'jsonb' };
function pgTypeName(oid: number): string {
  return TYPE_NAMES[oid] ?? '';
}
