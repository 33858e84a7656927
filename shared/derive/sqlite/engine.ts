/**
 * A SQLite derivation (Estuary's `using: {sqlite: {migrations}}` with SQL `lambda`s), on sql.js.
 *
 * As crates/derive-sqlite does: migrations run once each, in order, tracked in `flow_migrations`
 * (appending one applies just it); a lambda block is split into statements, each prepared once; for a
 * source document every statement runs in turn with its `$parameters` bound from the document
 * (params.ts), and each row it returns is a published document: one property per column (a column
 * that is a bound parameter is named by its field: `select $id` publishes `{"id": …}`), text that looks
 * like a JSON object or array parsed as JSON, blobs as base64; a single column whose name starts with
 * `json` is the document itself (`select json_object(…)`).
 *
 * The database lives in memory; its committed image is the state (`startCommit`), restored by `open`.
 */
import type { Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
import type { CollectionSpec, TransformSpec } from '../../catalog/model.ts';
import type { Json } from '../../json/types.ts';
import type { SchemaRegistry } from '../../schema/registry.ts';
import type { DerivationEngine, DerivationState } from '../engine.ts';
import { DerivationError, describe } from '../errors.ts';
import { bindValue, type Param, ParamNotFoundError, resolveParam, sourceParams } from './params.ts';
import { parameterNames, unterminatedTail } from './statements.ts';

interface Lambda {
  sql: string;
  stmt: Statement;
  /** Parameter name → projection. */
  bindings: { name: string; param: Param }[];
  /** Output property per column; empty: the single JSON column is the document. */
  outputs: string[];
}

const BOOTSTRAP = `CREATE TABLE IF NOT EXISTS flow_migrations (
  script_index INTEGER PRIMARY KEY NOT NULL,
  script TEXT NOT NULL
);`;

export class SqliteEngine implements DerivationEngine {
  private db: Database | undefined;
  private lambdas = new Map<string, Lambda[]>();
  private readonly params = new Map<string, Param[]>();
  /** Sources whose read schema stands in for Estuary's inferred schema: undeclared parameters allowed. */
  private readonly inferred = new Set<string>();

  constructor(
    private readonly SQL: SqlJsStatic,
    private readonly derivation: string,
    private readonly migrations: string[],
    private readonly transforms: TransformSpec[],
    sources: Record<string, CollectionSpec>,
    registry: SchemaRegistry,
  ) {
    for (const t of transforms) {
      const source = sources[t.source.name];
      if (source && !this.params.has(t.source.name))
        this.params.set(t.source.name, sourceParams(registry, source));
      if (source?.inferredStandIn) this.inferred.add(t.source.name);
    }
  }

  /** Open an empty database (migrations applied, lambdas prepared): construction's second step. */
  async init(): Promise<this> {
    await this.open(undefined);
    return this;
  }

  check(): void {
    // Lambdas were prepared (and their parameters resolved) by open(): nothing more to check.
  }

  async read(transform: TransformSpec, doc: Json): Promise<unknown> {
    const out: Json[] = [];
    for (const [i, l] of (this.lambdas.get(transform.name) ?? []).entries()) {
      try {
        // sql.js binds a bigint as a 64-bit integer, though its typings leave bigint out of SqlValue.
        const values: Record<string, SqlValue | bigint> = {};
        for (const b of l.bindings) values[b.name] = bindValue(b.param, doc);
        l.stmt.bind(values as Record<string, SqlValue>);
        while (l.stmt.step()) out.push(rowToDocument(l, l.stmt.get()));
      } catch (err) {
        // The runner reports it as the transform's failure, with the source document's index.
        throw new Error(`lambda statement ${i} failed: ${describe(err)}\n${l.sql.trim()}`, { cause: err });
      } finally {
        l.stmt.reset();
      }
    }
    return out;
  }

  async flush(): Promise<unknown> {
    return [];
  }

  async startCommit(): Promise<DerivationState> {
    return { kind: 'sqlite', image: this.database().export() };
  }

  async open(state: DerivationState | undefined): Promise<void> {
    this.close();
    const db = new this.SQL.Database(state?.kind === 'sqlite' ? state.image : undefined);
    this.db = db;
    db.run(BOOTSTRAP);
    const applied = db.exec('SELECT MAX(script_index) FROM flow_migrations')[0]?.values[0]?.[0];
    const from = typeof applied === 'number' ? applied + 1 : 0;
    for (let i = from; i < this.migrations.length; i++) {
      const tail = unterminatedTail(this.migrations[i]);
      if (tail !== undefined)
        throw new DerivationError('SqlInvalid', this.derivation, `migration ${i}: ${unterminated(tail)}`);
      try {
        db.exec(this.migrations[i]);
        db.run('INSERT INTO flow_migrations (script_index, script) VALUES (?, ?)', [i, this.migrations[i]]);
      } catch (err) {
        throw new DerivationError('SqlInvalid', this.derivation, `migration ${i} failed: ${describe(err)}`, {
          cause: err,
        });
      }
    }
    this.lambdas = new Map();
    for (const t of this.transforms) {
      if (t.disable || t.lambda === undefined) continue;
      this.lambdas.set(t.name, this.prepare(t, this.params.get(t.source.name) ?? []));
    }
  }

  async reset(): Promise<void> {
    await this.open(undefined);
  }

  /** Free the database and its statements. */
  close(): void {
    for (const ls of this.lambdas.values()) for (const l of ls) l.stmt.free();
    this.lambdas = new Map();
    this.db?.close();
    this.db = undefined;
  }

  private database(): Database {
    if (!this.db) throw new Error(`derivation ${this.derivation}: database is not open`);
    return this.db;
  }

  private prepare(t: TransformSpec, params: Param[]): Lambda[] {
    const db = this.database();
    const texts: string[] = [];
    const tail = unterminatedTail(t.lambda ?? '');
    if (tail !== undefined)
      throw new DerivationError('SqlInvalid', this.derivation, `lambda ${unterminated(tail)}`, {
        transform: t.name,
      });
    try {
      // sql.js splits a block into statements as SQLite's parser does; each is prepared again below and
      // kept (the iterator frees its own).
      for (const s of db.iterateStatements(t.lambda ?? '')) texts.push(s.getSQL());
    } catch (err) {
      throw new DerivationError('SqlInvalid', this.derivation, `lambda does not prepare: ${describe(err)}`, {
        transform: t.name,
        cause: err,
      });
    }
    return texts.map((sql, i) => {
      const bindings: Lambda['bindings'] = [];
      for (const name of parameterNames(sql)) {
        try {
          bindings.push({ name, param: resolveParam(name, params, this.inferred.has(t.source.name)) });
        } catch (err) {
          if (!(err instanceof ParamNotFoundError)) throw err;
          throw new DerivationError(
            'ParamNotFound',
            this.derivation,
            `lambda statement ${i}: ${err.message}`,
            {
              transform: t.name,
              cause: err,
            },
          );
        }
      }
      const stmt = db.prepare(sql);
      const columns = stmt.getColumnNames();
      const outputs =
        columns.length === 1 && columns[0].toLowerCase().startsWith('json')
          ? []
          : columns.map((c) => bindings.find((b) => b.name === c)?.param.field ?? c);
      return { sql, stmt, bindings, outputs };
    });
  }
}

function unterminated(tail: string): string {
  const shown = tail.length > 80 ? `${tail.slice(0, 77)}...` : tail;
  return `ends with ${JSON.stringify(shown)}, which no ';' closes: every statement of a SQL block must end with ';' (as in Estuary; a trailing comment counts too)`;
}

function rowToDocument(l: Lambda, row: SqlValue[]): Json {
  if (l.outputs.length === 0) return toJson(row[0]);
  const doc: Record<string, Json> = {};
  l.outputs.forEach((name, i) => {
    doc[name] = toJson(row[i]);
  });
  return doc;
}

/** SQLite value → JSON, as Estuary maps it: text holding a JSON object or array is parsed. */
function toJson(v: SqlValue): Json {
  if (v === null || v === undefined) return null;
  // A double JSON cannot hold is text, as Rust formats it (`inf`, `-inf`, `NaN`).
  if (typeof v === 'number') return Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'inf' : '-inf';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  const first = v[0];
  const last = v[v.length - 1];
  if ((first === '{' && last === '}') || (first === '[' && last === ']')) {
    try {
      return JSON.parse(v) as Json;
    } catch {
      return v;
    }
  }
  return v;
}
