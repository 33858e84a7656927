/**
 * The built catalog: everything the runtime needs, resolved and normalized, JSON-serializable.
 * The loader (shared/catalog/load.ts) produces it from flow.yaml; Lambda bundles ship it as JSON
 * so that no YAML is parsed at cold start.
 */
import type { Json } from '../json/types.ts';

/** Where something was written: file (absolute path), 1-based line and column, JSON pointer in that file. */
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
  pointer: string;
}

export interface BuiltCatalog {
  /** Absolute path of the root catalog file. */
  root: string;
  /**
   * Every schema document loaded, by absolute URI (`file:///abs/path.schema.yaml`, or for an inline
   * schema `file:///abs/flow.yaml#/collections/acme~1orders/schema` rewritten as its own resource).
   * Each document carries `$id` equal to its key, so ajv resolves relative `$ref`s between them.
   */
  schemas: Record<string, Json>;
  collections: Record<string, CollectionSpec>;
  captures: Record<string, CaptureSpec>;
  materializations: Record<string, MaterializationSpec>;
  tests: Record<string, TestSpec>;
  storageMappings: Record<string, StorageMapping>;
}

export interface Projection {
  location: string;
  partition: boolean;
}

export interface CollectionSpec {
  name: string;
  /** URI (key of BuiltCatalog.schemas, optionally with a `#/pointer` fragment) of the write schema. */
  writeSchema: string;
  /** URI of the read schema; equal to writeSchema when the catalog gives a single `schema`. */
  readSchema: string;
  /** JSON pointers of the collection key, in order. */
  key: string[];
  /**
   * Routing to journal shards by fewer locations than `key` (catalog/routing.ts): those of its key that
   * every shuffle key reading it shares, so each shuffle key keeps its publish order. Unset: `key`.
   */
  routingKey?: string[];
  projections: Record<string, Projection>;
  derive?: DeriveSpec;
  journals?: { fragments?: FragmentsSpec };
  source: SourceLocation;
  /**
   * The read schema references `flow://inferred-schema`, for which the write schema stands
   * (catalog/resources.ts): locations it leaves undeclared may still be in documents, so a SQLite
   * `$parameter` may name one.
   */
  inferredStandIn?: true;
}

export interface FragmentsSpec {
  length?: number;
  compressionCodec?: 'GZIP' | 'NONE' | 'ZSTANDARD' | 'SNAPPY' | 'GZIP_OFFLOAD_DECOMPRESSION';
  flushInterval?: string;
  retention?: string;
}

export interface PartitionSelector {
  include?: Record<string, Json[]>;
  exclude?: Record<string, Json[]>;
}

export interface SourceRef {
  name: string;
  partitions?: PartitionSelector;
  notBefore?: string;
  notAfter?: string;
}

export interface DeriveSpec {
  using: DeriveUsing;
  transforms: TransformSpec[];
  shards?: Json;
  /**
   * The derivation keeps state between transactions: SQLite (its tables), or a TypeScript module whose
   * `class Derivation` has `startCommit` or a constructor taking `open` (`{state}`). Its state is committed
   * with its input checkpoint (shared/derive/task.ts) and it runs one invocation at a time.
   */
  stateful?: boolean;
}

/** A derivation's runtime: Estuary's `using: {typescript}` or `using: {sqlite}`. */
export type DeriveUsing = { typescript: TypescriptUsing } | { sqlite: SqliteUsing };

export interface TypescriptUsing {
  /** Absolute path of the TypeScript module (inline modules are written to a file by the loader). */
  module: string;
  /**
   * How bare imports resolve (Estuary's `deno.json` import map): specifier → absolute path, a key ending
   * in `/` mapping a prefix (`flow/` → `<project>/flow_generated/typescript/`). Absent: `flow/` maps to
   * `flow_generated/typescript/` beside the root catalog.
   */
  imports?: Record<string, string>;
}

export interface SqliteUsing {
  /** SQL blocks (file contents already read), applied once each, in order. */
  migrations: string[];
}

/** What of a task's Estuary `shards` applies on AWS: no function when disabled, and its log level. */
export interface ShardSettings {
  disable: boolean;
  logLevel?: 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export const SHARD_SETTINGS_APPLIED: ReadonlySet<string> = new Set(['disable', 'logLevel']);

export function shardSettings(shards: Json | undefined): ShardSettings {
  if (shards === null || typeof shards !== 'object' || Array.isArray(shards)) return { disable: false };
  const level = shards.logLevel;
  return {
    disable: shards.disable === true,
    ...(typeof level === 'string' && ['error', 'warn', 'info', 'debug', 'trace'].includes(level)
      ? { logLevel: level as ShardSettings['logLevel'] }
      : {}),
  };
}

/** The TypeScript runtime of a derivation, if it has one. */
export function typescriptOf(derive: DeriveSpec | undefined): TypescriptUsing | undefined {
  return derive && 'typescript' in derive.using ? derive.using.typescript : undefined;
}

/** The SQLite runtime of a derivation, if it has one. */
export function sqliteOf(derive: DeriveSpec | undefined): SqliteUsing | undefined {
  return derive && 'sqlite' in derive.using ? derive.using.sqlite : undefined;
}

export interface TransformSpec {
  name: string;
  source: SourceRef;
  /** `any`, or shuffle by these JSON pointers of the source document. */
  shuffle: 'any' | { key: string[] };
  /** Seconds; 0 when not set. */
  readDelay: number;
  priority: number;
  disable: boolean;
  backfill: number;
  /** SQLite derivations: the transform's SQL block (file contents already read). */
  lambda?: string;
}

export interface ConnectorEndpoint {
  /** The built-in connector name (`source-http-ingest`), resolved from `ghcr.io/estuary/<name>:<tag>`. */
  connector: string;
  /** The image as written in the catalog. */
  image: string;
  config: Json;
}

export interface CaptureBinding {
  resource: Json;
  target: string;
  disable: boolean;
  backfill: number;
}

export interface CaptureSpec {
  name: string;
  endpoint: ConnectorEndpoint;
  bindings: CaptureBinding[];
  /** Estuary's shard template as written (shardSettings: what applies). */
  shards?: Json;
  /** Polling interval in seconds, when set. */
  interval?: number;
  source: SourceLocation;
}

export interface MaterializationBinding {
  source: SourceRef;
  resource: Json;
  fields: {
    recommended: boolean | number;
    include?: Record<string, Json>;
    exclude?: string[];
    require?: Record<string, Json>;
  };
  disable: boolean;
  backfill: number;
}

export interface MaterializationSpec {
  name: string;
  endpoint: ConnectorEndpoint;
  bindings: MaterializationBinding[];
  /** Estuary's shard template as written (shardSettings: what applies). */
  shards?: Json;
  source: SourceLocation;
}

export type TestStep =
  | { kind: 'ingest'; collection: string; documents: Json[]; description?: string; source: SourceLocation }
  | {
      kind: 'verify';
      collection: SourceRef;
      documents: Json[];
      description?: string;
      source: SourceLocation;
    };

export interface TestSpec {
  name: string;
  description?: string;
  steps: TestStep[];
  source: SourceLocation;
}

export interface StorageMapping {
  prefix: string;
  stores: { provider: 'S3' | 'GCS' | 'AZURE' | 'CUSTOM'; bucket: string; prefix?: string; region?: string }[];
}

/** The built-in connectors. An image `ghcr.io/estuary/<name>:<tag>` resolves to `<name>`. */
export const KNOWN_CONNECTORS = [
  'source-http-ingest',
  'source-s3',
  'source-postgres-batch',
  'materialize-dynamodb',
  'materialize-postgres',
  'materialize-s3',
  'materialize-webhook',
] as const;
export type ConnectorName = (typeof KNOWN_CONNECTORS)[number];
