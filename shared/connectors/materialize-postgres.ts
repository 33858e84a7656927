/**
 * materialize-postgres: collections into PostgreSQL tables, exactly once.
 *
 * Config (Estuary's): `{address, user, password, database, schema = public, hardDelete = false}`;
 * resource: `{table, schema?, delta_updates = false}`.
 *
 * Tables: one column per selected field (fields.ts) plus `flow_document JSONB`; SQL types from the
 * JSON Schema: integer→BIGINT, number→DOUBLE PRECISION, boolean→BOOLEAN, string→TEXT
 * (date-time→TIMESTAMPTZ, date→DATE, Estuary's numeric string formats integer/number→NUMERIC),
 * object/array/several types→JSONB. Standard updates: primary key = the collection key, rows upserted;
 * a full-reduction delete deletes the row (`hardDelete: true`) or keeps it with `_meta/op = "d"` in
 * `flow_document` (soft delete; `load` treats such a row as absent). Delta updates: no primary key,
 * one row inserted per combined delta.
 *
 * Exactly once: table `<schema>.flow_checkpoints_v1 (materialization, shard, fence, position)` holds one
 * row per source shard (`<collection>/<shardId>`). `commit()` is one transaction: lock the rows of the
 * shards involved (`SELECT … FOR UPDATE`, in shard order), check this instance may still write them,
 * TRUNCATE the tables of a re-backfill (`txn.reset`), write the documents, advance the positions
 * (monotonically), COMMIT: truncation, rows and checkpoint become visible together or not at all.
 * Two ways to hold a shard:
 * - scoped (`shards` in the options, or `open({shards})`): `open()` bumps the fence (epoch) of those
 *   shards and remembers it; a commit whose fence was bumped since is a zombie's: FencedError. Use it
 *   when an invocation knows its shard (a Lambda's Kinesis batch names it).
 * - unscoped (plain `open()`, what the generic task calls): `open()` only reads the positions. The first
 *   commit touching a shard checks the stored position still equals what `open()` saw (compare and set)
 *   and takes that shard's fence (bump); later commits check the fence. So concurrent instances serving
 *   different shards never fence each other, and an instance whose view of a shard is stale — a zombie,
 *   or one that lost a race — gets FencedError and must `open()` again (re-read) before retrying.
 */
import type pg from 'pg';
import type { BuiltCatalog, CollectionSpec } from '../catalog/model.ts';
import { setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import {
  type Checkpoint,
  FencedError,
  type MaterializeConnector,
  type MaterializeConnectorContext,
  type MaterializeTransaction,
  type StoreDoc,
} from '../materialize/connector.ts';
import { resolveConfigSecrets, validateConnectorJson } from './config.ts';
import { ConnectorConfigError, FieldMappingError } from './errors.ts';
import { type FieldShape, fieldValue, type SelectedField, selectFields } from './fields.ts';
import { connectPg, ident, type PgConnectionConfig, qualified } from './postgres-common.ts';

export interface MaterializePostgresConfig extends PgConnectionConfig {
  schema: string;
  hardDelete: boolean;
}

export interface MaterializePostgresResource {
  table: string;
  schema?: string;
  delta_updates: boolean;
}

export interface PostgresMaterializeOptions extends MaterializeConnectorContext {
  /** The built catalog: collection keys, projections and schemas decide the columns. */
  catalog: BuiltCatalog;
  /** Source shards (`<collection>/<shardId>`) this instance commits; default: the whole materialization. */
  shards?: string[];
  /** Fault injection for tests: runs inside the commit transaction after the rows are written, before COMMIT. */
  faults?: { beforeCommit?: () => Promise<void> };
}

export const CHECKPOINT_TABLE = 'flow_checkpoints_v1';
const CHUNK = 5000;

export type SqlType =
  | 'BIGINT'
  | 'DOUBLE PRECISION'
  | 'BOOLEAN'
  | 'TEXT'
  | 'TIMESTAMPTZ'
  | 'DATE'
  | 'NUMERIC'
  | 'JSONB';

/** The SQL column type of a field shape (see the module comment). */
export function sqlTypeOf(shape: FieldShape): SqlType {
  const t = new Set([...shape.types].filter((x) => x !== 'null'));
  if (t.size === 0) return 'JSONB';
  if (t.size === 1 && t.has('integer')) return 'BIGINT';
  if ([...t].every((x) => x === 'integer' || x === 'number')) return 'DOUBLE PRECISION';
  if (t.size === 1 && t.has('boolean')) return 'BOOLEAN';
  if (t.size === 1 && t.has('string')) {
    if (shape.format === 'date-time') return 'TIMESTAMPTZ';
    if (shape.format === 'date') return 'DATE';
    if (shape.format === 'integer' || shape.format === 'number') return 'NUMERIC';
    return 'TEXT';
  }
  return 'JSONB';
}

/**
 * A value as the text parameter cast to the column's SQL type (null for absent). PostgreSQL's TEXT and
 * JSONB hold no NUL character (`\u0000`: "unsupported Unicode escape sequence", and the materialization
 * halted at that document for good): it is left out, as Estuary's materialize-postgres strips it from text.
 */
export function toParam(v: Json | undefined, type: SqlType): string | null {
  if (v === undefined || v === null) return type === 'JSONB' && v === null ? 'null' : null;
  if (type === 'JSONB') {
    const text = JSON.stringify(v);
    return text.includes('\\u0000') ? JSON.stringify(withoutNul(v)) : text;
  }
  if (typeof v === 'string') return v.includes('\u0000') ? v.replaceAll('\u0000', '') : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(withoutNul(v));
}

/** `v` without NUL characters in its strings and property names. */
function withoutNul(v: Json): Json {
  if (typeof v === 'string') return v.replaceAll('\u0000', '');
  if (Array.isArray(v)) return v.map(withoutNul);
  if (v !== null && typeof v === 'object') {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) setOwnProp(out, k.replaceAll('\u0000', ''), withoutNul(x));
    return out;
  }
  return v;
}

interface Column {
  field: SelectedField;
  type: SqlType;
}

interface BindingPlan {
  index: number;
  collection: CollectionSpec;
  table: string;
  delta: boolean;
  columns: Column[];
  keyColumns: Column[];
  createSql: string[];
  upsertSql: string;
  deleteSql: string;
  loadSql: string;
}

function planBinding(
  catalog: BuiltCatalog,
  materialization: string,
  index: number,
  config: MaterializePostgresConfig,
  resourceJson: Json,
  bindingSpec: BuiltCatalog['materializations'][string]['bindings'][number],
): BindingPlan {
  const resource = validateConnectorJson<MaterializePostgresResource>(
    'materialize-postgres',
    'resource',
    resourceJson,
    `${materialization}/bindings/${index}/resource`,
  );
  const collection = catalog.collections[bindingSpec.source.name];
  if (!collection) {
    throw new ConnectorConfigError('materialize-postgres', `${materialization}/bindings/${index}/source`, [
      { pointer: '/name', message: `collection ${bindingSpec.source.name} is not in the catalog` },
    ]);
  }
  const fields = selectFields(catalog, collection, bindingSpec);
  // PostgreSQL keeps the first 63 bytes of a name: fields alike that far would be one column, and the
  // table could not be created ("specified more than once"). As Estuary's field selection (DuplicateFold),
  // the first is kept (keys come first) and the others are not materialized.
  const names = new Set<string>();
  const columns: Column[] = fields
    .filter((f) => {
      const name = Buffer.from(f.name).subarray(0, 63).toString();
      if (names.has(name)) return false;
      names.add(name);
      return true;
    })
    .map((f) => ({ field: f, type: sqlTypeOf(f.shape) }));
  for (const c of columns) {
    if (c.field.isKey && c.type === 'JSONB') {
      throw new FieldMappingError(
        collection.name,
        c.field.name,
        'a key field must be a string, integer or boolean',
      );
    }
  }
  const keyColumns = columns.filter((c) => c.field.isKey);
  const table = qualified(resource.schema ?? config.schema, resource.table);
  const delta = resource.delta_updates;
  const colDefs = [
    ...columns.map((c) => `${ident(c.field.name)} ${c.type}${c.field.isKey && !delta ? ' NOT NULL' : ''}`),
    `${ident('flow_document')} JSONB NOT NULL`,
  ];
  if (!delta) colDefs.push(`PRIMARY KEY (${keyColumns.map((c) => ident(c.field.name)).join(', ')})`);
  const createSql = [
    `CREATE SCHEMA IF NOT EXISTS ${ident(resource.schema ?? config.schema)}`,
    `CREATE TABLE IF NOT EXISTS ${table} (\n  ${colDefs.join(',\n  ')}\n)`,
    ...columns
      .filter((c) => !c.field.isKey)
      .map((c) => `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${ident(c.field.name)} ${c.type}`),
  ];
  const all = [
    ...columns.map((c) => ({ name: c.field.name, type: c.type })),
    { name: 'flow_document', type: 'JSONB' },
  ];
  const unnest = (n: number, extra = ''): string =>
    `unnest(${Array.from({ length: n }, (_, i) => `$${i + 1}::text[]`).join(', ')})${extra}`;
  const alias = (n: number): string => Array.from({ length: n }, (_, i) => `c${i}`).join(', ');
  const insert =
    `INSERT INTO ${table} (${all.map((c) => ident(c.name)).join(', ')})\n` +
    `SELECT ${all.map((c, i) => `u.c${i}::${c.type}`).join(', ')} FROM ${unnest(all.length)} AS u(${alias(all.length)})`;
  const nonKey = all.filter((c) => !keyColumns.some((k) => k.field.name === c.name));
  const upsertSql = delta
    ? insert
    : `${insert}\nON CONFLICT (${keyColumns.map((c) => ident(c.field.name)).join(', ')}) DO UPDATE SET ${nonKey
        .map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`)
        .join(', ')}`;
  const keyMatch = keyColumns.map((c, i) => `t.${ident(c.field.name)} = u.c${i}::${c.type}`).join(' AND ');
  const deleteSql = `DELETE FROM ${table} AS t USING ${unnest(keyColumns.length)} AS u(${alias(keyColumns.length)}) WHERE ${keyMatch}`;
  const loadSql =
    `SELECT u.ord, t.${ident('flow_document')} AS doc FROM ${table} AS t JOIN ${unnest(keyColumns.length, ' WITH ORDINALITY')}` +
    ` AS u(${alias(keyColumns.length)}, ord) ON ${keyMatch}` +
    ` WHERE coalesce(t.${ident('flow_document')} #>> '{_meta,op}', '') <> 'd'`;
  return { index, collection, table, delta, columns, keyColumns, createSql, upsertSql, deleteSql, loadSql };
}

export class PostgresMaterialization implements MaterializeConnector {
  /** Checkpoint values commit with the rows and only ever increase: origin marks fit (connector.ts). */
  readonly originMarks = true;
  private client: pg.Client | undefined;
  private fences = new Map<string, number>();
  /** Last committed position per shard as this instance knows it (from open() and its own commits). */
  private known = new Map<string, string>();
  /** Why a commit now needs open() first; undefined once open() has read the positions. */
  private notOpen: string | undefined = 'commit() before open()';
  private scope: string[] | undefined;
  private readonly checkpointTable: string;

  private constructor(
    private readonly name: string,
    private readonly config: MaterializePostgresConfig,
    private readonly plans: Map<number, BindingPlan>,
    private readonly opts: PostgresMaterializeOptions,
  ) {
    this.checkpointTable = qualified(config.schema, CHECKPOINT_TABLE);
    this.scope = opts.shards;
  }

  /** Validate config and resources (throws ConnectorConfigError / FieldMappingError), resolve secrets. */
  static async create(opts: PostgresMaterializeOptions): Promise<PostgresMaterialization> {
    const { spec, catalog } = opts;
    const config = validateConnectorJson<MaterializePostgresConfig>(
      'materialize-postgres',
      'config',
      spec.endpoint.config,
      `${spec.name}/endpoint/connector/config`,
    );
    await resolveConfigSecrets('materialize-postgres', config, opts.secret);
    const plans = new Map<number, BindingPlan>();
    spec.bindings.forEach((b, i) => {
      if (!b.disable) plans.set(i, planBinding(catalog, spec.name, i, config, b.resource, b));
    });
    return new PostgresMaterialization(spec.name, config, plans, opts);
  }

  /** The SQL the connector runs in apply() (for docs and dry runs). */
  ddl(): string[] {
    return [...this.plans.values()].flatMap((p) => p.createSql);
  }

  private async db(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.client = await connectPg(this.config, (broken) => {
      if (this.client === broken) this.client = undefined;
    });
    return this.client;
  }

  private async dropBroken(c: pg.Client): Promise<void> {
    if (this.client === c) this.client = undefined;
    await c.end().catch(() => {});
  }

  async apply(): Promise<void> {
    const c = await this.db();
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sluice-apply:${this.name}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${ident(this.config.schema)}`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.checkpointTable} (
  materialization TEXT NOT NULL,
  shard TEXT NOT NULL,
  fence BIGINT NOT NULL DEFAULT 0,
  position TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (materialization, shard)
)`,
      );
      for (const p of this.plans.values()) for (const sql of p.createSql) await c.query(sql);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async open(scope?: { shards?: string[] }): Promise<{ checkpoint: Checkpoint }> {
    if (scope?.shards) this.scope = scope.shards;
    const c = await this.db();
    this.fences = new Map();
    this.known = new Map();
    this.notOpen = undefined;
    const checkpoint: Checkpoint = {};
    if (!this.scope) {
      // Unscoped: read every shard's position; fences are taken per shard at its first commit.
      const rows = await c.query<{ shard: string; position: string }>(
        `SELECT shard, position FROM ${this.checkpointTable} WHERE materialization = $1 AND shard <> ''`,
        [this.name],
      );
      for (const r of rows.rows) {
        this.known.set(r.shard, r.position);
        if (r.position !== '') checkpoint[r.shard] = r.position;
      }
      return { checkpoint };
    }
    await c.query('BEGIN');
    try {
      await c.query(
        `INSERT INTO ${this.checkpointTable} (materialization, shard) SELECT $1, s FROM unnest($2::text[]) AS s ON CONFLICT DO NOTHING`,
        [this.name, this.scope],
      );
      const rows = (
        await c.query<{ shard: string; fence: string; position: string }>(
          `UPDATE ${this.checkpointTable} SET fence = fence + 1 WHERE materialization = $1 AND shard = ANY($2::text[]) RETURNING shard, fence, position`,
          [this.name, this.scope],
        )
      ).rows;
      await c.query('COMMIT');
      for (const r of rows) {
        this.fences.set(r.shard, Number(r.fence));
        this.known.set(r.shard, r.position);
        if (r.position !== '') checkpoint[r.shard] = r.position;
      }
      return { checkpoint };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async load(binding: number, keys: Json[][]): Promise<Map<string, Json>> {
    const plan = this.plan(binding);
    const out = new Map<string, Json>();
    if (plan.delta || keys.length === 0) return out;
    const c = await this.db();
    for (let start = 0; start < keys.length; start += CHUNK) {
      const chunk = keys.slice(start, start + CHUNK);
      const params = plan.keyColumns.map((col, i) => chunk.map((k) => toParam(k[i], col.type)));
      const res = await c.query<{ ord: string; doc: Json }>(plan.loadSql, params);
      for (const r of res.rows) {
        const key = chunk[Number(r.ord) - 1];
        if (key) out.set(JSON.stringify(key), r.doc);
      }
    }
    return out;
  }

  async commit(txn: MaterializeTransaction): Promise<void> {
    if (this.notOpen !== undefined) throw new FencedError(this.name, this.notOpen);
    const shards = Object.keys(txn.checkpoint);
    if (this.scope) {
      const outside = shards.filter((s) => !this.fences.has(s));
      if (outside.length > 0) {
        throw new FencedError(
          this.name,
          `checkpoint names shards outside this instance's scope: ${outside.join(', ')}`,
        );
      }
    }
    const c = await this.db();
    const taken = new Map<string, number>();
    await c.query('BEGIN');
    try {
      // 1. Lock the fence rows of every shard we hold or touch, in a stable order (no deadlocks).
      const lock = [...new Set([...this.fences.keys(), ...shards])].sort();
      if (!this.scope && lock.length > 0) {
        await c.query(
          `INSERT INTO ${this.checkpointTable} (materialization, shard) SELECT $1, s FROM unnest($2::text[]) AS s ON CONFLICT DO NOTHING`,
          [this.name, lock],
        );
      }
      const locked = await c.query<{ shard: string; fence: string; position: string }>(
        `SELECT shard, fence, position FROM ${this.checkpointTable} WHERE materialization = $1 AND shard = ANY($2::text[]) ORDER BY shard FOR UPDATE`,
        [this.name, lock],
      );
      const rows = new Map(locked.rows.map((r) => [r.shard, r]));
      for (const shard of lock) {
        const row = rows.get(shard);
        const mine = this.fences.get(shard);
        if (mine !== undefined) {
          // 2a. A fence we hold: nobody may have bumped it since.
          if (!row || Number(row.fence) !== mine) {
            throw new FencedError(
              this.name,
              `shard ${JSON.stringify(shard)}: our fence ${mine}, current ${row ? row.fence : 'missing'}`,
            );
          }
        } else {
          // 2b. First commit of this shard by an unscoped instance: our view must be current
          // (compare-and-set on the position we opened with), then take the shard's fence.
          const expected = this.known.get(shard) ?? '';
          if ((row?.position ?? '') !== expected) {
            throw new FencedError(
              this.name,
              `shard ${JSON.stringify(shard)} advanced to ${row?.position || 'nothing'} since open() saw ${expected || 'nothing'}`,
            );
          }
          taken.set(shard, Number(row?.fence ?? 0) + 1);
        }
      }
      // 3. A re-backfill empties its tables here, after the fence checks and in the same transaction:
      //    a fenced-off instance never truncates, and the rows are never seen empty by readers.
      for (const binding of txn.reset ?? []) await c.query(`TRUNCATE ${this.plan(binding).table}`);
      // 4. The rows.
      for (const { binding, docs } of txn.bindings) await this.store(c, this.plan(binding), docs);
      await this.opts.faults?.beforeCommit?.();
      // 5. The checkpoint (monotonic) and newly taken fences, in the same transaction.
      if (shards.length > 0 || taken.size > 0) {
        const all = [...new Set([...shards, ...taken.keys()])];
        await c.query(
          `UPDATE ${this.checkpointTable} AS cp SET
             position = CASE WHEN u.p IS NOT NULL AND u.p > cp.position THEN u.p ELSE cp.position END,
             fence = CASE WHEN u.f IS NOT NULL THEN u.f ELSE cp.fence END
           FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(s, p, f)
           WHERE cp.materialization = $1 AND cp.shard = u.s`,
          [this.name, all, all.map((s) => txn.checkpoint[s] ?? null), all.map((s) => taken.get(s) ?? null)],
        );
      }
      await c.query('COMMIT');
    } catch (err) {
      try {
        await c.query('ROLLBACK');
      } catch {
        // The connection broke: a COMMIT it carried may have been applied with only its answer lost, so
        // this instance's view of the positions is no longer to be trusted. Until open() re-reads them,
        // commits fail with FencedError (the task re-opens and retries, skipping what was committed).
        this.notOpen = 'the connection broke during the last commit, whose outcome is unknown: open() again';
        await this.dropBroken(c);
      }
      throw err;
    }
    for (const [shard, f] of taken) this.fences.set(shard, f);
    for (const shard of shards) {
      const p = txn.checkpoint[shard] as string;
      if (p > (this.known.get(shard) ?? '')) this.known.set(shard, p);
    }
  }

  private async store(c: pg.Client, plan: BindingPlan, docs: StoreDoc[]): Promise<void> {
    // One document per key (last wins) so that ON CONFLICT never meets a key twice in one statement.
    const byKey = new Map<string, StoreDoc>();
    if (plan.delta) {
      docs.forEach((d, i) => {
        byKey.set(String(i), d);
      });
    } else {
      for (const d of docs) byKey.set(JSON.stringify(d.key), d);
    }
    const upserts: StoreDoc[] = [];
    const deletes: StoreDoc[] = [];
    for (const d of byKey.values()) {
      if (d.deleted && !plan.delta && this.config.hardDelete) deletes.push(d);
      else if (d.deleted && !plan.delta) upserts.push({ ...d, doc: markDeleted(d.doc) });
      else upserts.push(d);
    }
    for (let s = 0; s < deletes.length; s += CHUNK) {
      const chunk = deletes.slice(s, s + CHUNK);
      await c.query(
        plan.deleteSql,
        plan.keyColumns.map((col, i) => chunk.map((d) => toParam(d.key[i], col.type))),
      );
    }
    for (let s = 0; s < upserts.length; s += CHUNK) {
      const chunk = upserts.slice(s, s + CHUNK);
      const params: (string | null)[][] = plan.columns.map((col) =>
        chunk.map((d) => {
          const k = col.field.isKey ? plan.keyColumns.indexOf(col) : -1;
          return toParam(k >= 0 ? d.key[k] : fieldValue(d.doc, col.field), col.type);
        }),
      );
      params.push(chunk.map((d) => toParam(d.doc, 'JSONB') as string));
      await c.query(plan.upsertSql, params);
    }
  }

  /**
   * Empty a binding's table (a bumped backfill counter rebuilds it from history), in a transaction checked
   * against the fences this instance holds. The task does not call this: it asks for the reset in the first
   * commit of the re-backfill (`txn.reset`), whose checkpoint rows are checked too.
   */
  async reset(binding: number): Promise<void> {
    await this.commit({ bindings: [], checkpoint: {}, reset: [binding] });
  }

  private plan(binding: number): BindingPlan {
    const p = this.plans.get(binding);
    if (!p) {
      throw new ConnectorConfigError('materialize-postgres', `${this.name}/bindings/${binding}`, [
        { pointer: '', message: 'no such enabled binding' },
      ]);
    }
    return p;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}

function markDeleted(doc: Json): JsonObject {
  const base: JsonObject = isObject(doc) ? { ...doc } : {};
  const meta = isObject(base._meta) ? { ...base._meta } : {};
  meta.op = 'd';
  base._meta = meta;
  return base;
}
