/**
 * What the parity tests (parity-*.test.ts) start: a PostgreSQL server with a database of the catalog's
 * own, the catalog with its PostgreSQL endpoints pointed there (their password also as
 * PARITY_PG_PASSWORD, which the catalogs' configs name), and a data folder for the local stack.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { expect } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { isObject, type Json, type JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { type EngineSession, TestRunner } from '../../shared/testing/runner.ts';
import { startAssembly } from '../support/assembly.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';
import { postJson } from './helpers.ts';

export interface ParityFixture {
  server: PgServer;
  db: pg.Client;
  catalog: BuiltCatalog;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startParity(catalogPath: string, database: string): Promise<ParityFixture> {
  const server = await startPostgres();
  await server.createDatabase(database);
  const db = await server.client(database);
  process.env.PARITY_PG_PASSWORD = server.password;
  const r = await loadCatalog(catalogPath);
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  const catalog = r.catalog;
  for (const t of Object.values(catalog.materializations)) {
    const cfg = t.endpoint.config;
    if (isObject(cfg) && typeof cfg.address === 'string') {
      cfg.address = server.address;
      cfg.user = server.user;
      cfg.password = server.password;
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), `sluice-parity-${database}-`));
  return {
    server,
    db,
    catalog,
    dataDir,
    async stop() {
      await db.end();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The offline engine's session and the deployed assembly, both fresh, for one catalog. */
export async function startBoth(
  catalog: BuiltCatalog,
  dataDir: string,
): Promise<{ offline: EngineSession; runner: AssemblyRunner }> {
  const offline = await (await TestRunner.create(catalog, new SchemaRegistry(catalog.schemas))).session();
  return { offline, runner: await startAssembly(catalog, { dataDir }) };
}

/**
 * Each transaction to both: the offline engine's ingest, and the deployed HTTP ingest of its collection
 * (`parity/x` at `/parity/ingest/x`) drained through every task; then `after` (a test's own oracle).
 */
export async function ingestBoth(
  both: { offline: EngineSession; runner: AssemblyRunner },
  steps: { collection: string; docs: JsonObject[] }[],
  after?: (step: { collection: string; docs: JsonObject[] }) => Promise<void>,
): Promise<void> {
  for (const step of steps) {
    await both.offline.ingest(step.collection, step.docs);
    const path = `/parity/ingest/${step.collection.split('/').pop()}`;
    expect(await postJson(`${both.runner.ingestUrl}${path}`, step.docs)).toBe(200);
    await both.runner.drain();
    await after?.(step);
  }
  expect(both.runner.denied.map((d) => d.message)).toEqual([]);
}

/** A document without `_meta` (the capture adds its own there; the offline engine its uuid). */
export function bare(doc: Json): JsonObject {
  const { _meta, ...rest } = doc as JsonObject;
  return rest;
}

/** A collection's reduced view in the deployed stack's state table, without `_meta`. */
export async function view(runner: AssemblyRunner, collection: string): Promise<JsonObject[]> {
  const store = new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
  const out: JsonObject[] = [];
  for await (const it of store.scan(collection)) out.push(bare(it.doc as Json));
  return out;
}

/**
 * The sessions catalog's PostgreSQL tables against the offline engine's documents (`want`): in the
 * soft-deleting table the live rows equal them and the deleted user (cy) stays, marked; the hard-deleting
 * table holds them alone. Returns the hard table's rows.
 */
export async function expectSessionsTables(db: pg.Client, want: Json[]): Promise<JsonObject[]> {
  const soft = (await db.query('SELECT * FROM public.sessions_soft ORDER BY "user"')).rows as JsonObject[];
  const op = (r: JsonObject) => ((r.flow_document as JsonObject)._meta as JsonObject | undefined)?.op;
  expect(soft.filter((r) => op(r) !== 'd').map((r) => bare(r.flow_document))).toEqual(want.map(bare));
  expect(soft.filter((r) => op(r) === 'd').map((r) => r.user)).toEqual(['cy']);
  const hard = (await db.query('SELECT * FROM public.sessions_hard ORDER BY "user"')).rows as JsonObject[];
  expect(hard.map((r) => bare(r.flow_document))).toEqual(want.map(bare));
  return hard;
}
