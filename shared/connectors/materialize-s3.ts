/**
 * materialize-s3: delta files of a collection into an S3 data lake.
 *
 * Config: `{bucket, prefix = '', region = us-east-1, awsAccessKeyId?, awsSecretAccessKey?, endpoint?}`;
 * resource `{path}`. Always delta updates (no load): each transaction writes, per binding, gzipped JSON
 * lines of the combined documents, partitioned Hive-style by the documents' publish time (from
 * `_meta/uuid`, a v7 UUID; documents without one use the transaction's clock time):
 * `<prefix><path>/utc_date=YYYY-MM-DD/utc_hour=HH/<checkpoint sequence.index>-<hash>.jsonl.gz`.
 *
 * Names are deterministic functions of the transaction's source checkpoint and binding, so a retried
 * transaction overwrites the same objects. After the data files, each checkpoint entry (one per source
 * shard, plus backfill markers) is written to its own object under
 * `<prefix>_sluice/checkpoints/<materialization>/`: shards are committed by concurrent invocations, and
 * one shared object updated by read-modify-write lost one shard's entry whenever two commits overlapped
 * (that shard then replayed into new, duplicate files). `open()` lists and reads that folder, the only
 * objects it reads: deployed, its role may PutObject under the prefix, and GetObject and ListBucket only
 * under that folder. S3 has no transactions: a crash between the data files and the checkpoint, followed by a
 * redelivery with *different* batch boundaries, can repeat documents in a second file (at least once).
 * Full-reduction deletes are written as documents with `_meta/op = "d"`.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type {
  Checkpoint,
  MaterializeConnector,
  MaterializeConnectorContext,
  MaterializeTransaction,
} from '../materialize/connector.ts';
import { resolveConfigSecrets, validateConnectorJson } from './config.ts';
import type { BlobStoreFactory } from './source-s3.ts';

export interface MaterializeS3Config {
  bucket: string;
  prefix: string;
  region: string;
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
  endpoint?: string;
}

export interface MaterializeS3Options extends MaterializeConnectorContext {
  blobs: BlobStoreFactory;
  now?: () => number;
}

function uuidTime(doc: Json): number | undefined {
  if (!isObject(doc) || !isObject(doc._meta) || typeof doc._meta.uuid !== 'string') return undefined;
  const hex = doc._meta.uuid.replace(/-/g, '');
  if (hex.length !== 32 || hex[12] !== '7') return undefined;
  return Number.parseInt(hex.slice(0, 12), 16);
}

/** A key prefix as a folder: `rollups` and `rollups/` both mean `rollups/…` (Estuary's connector does the same). */
export function s3Folder(prefix: string | undefined): string {
  const p = prefix ?? '';
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/**
 * The folder of a materialization's checkpoint objects, `<prefix>_sluice/checkpoints/<name>/`: the only
 * objects it reads back (the stack grants GetObject and ListBucket under exactly this folder,
 * infra/sluice-catalog.ts).
 */
export function checkpointFolderOf(prefix: string | undefined, materialization: string): string {
  return `${s3Folder(prefix)}_sluice/checkpoints/${materialization}/`;
}

/** One checkpoint entry's object: the entry's key (`<collection>/<shard>`, a marker) URI-encoded. */
function checkpointObject(folder: string, entry: string): string {
  return `${folder}${encodeURIComponent(entry)}.json`;
}

export function partitionOf(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `utc_date=${iso.slice(0, 10)}/utc_hour=${iso.slice(11, 13)}`;
}

export class S3Materialization implements MaterializeConnector {
  private get prefix(): string {
    return s3Folder(this.config.prefix);
  }

  private constructor(
    private readonly name: string,
    private readonly config: MaterializeS3Config,
    private readonly paths: Map<number, string>,
    private readonly opts: MaterializeS3Options,
  ) {}

  static async create(opts: MaterializeS3Options): Promise<S3Materialization> {
    const { spec } = opts;
    const config = validateConnectorJson<MaterializeS3Config>(
      'materialize-s3',
      'config',
      spec.endpoint.config,
      `${spec.name}/endpoint/connector/config`,
    );
    await resolveConfigSecrets('materialize-s3', config, opts.secret);
    const paths = new Map<number, string>();
    spec.bindings.forEach((b, i) => {
      const r = validateConnectorJson<{ path: string }>(
        'materialize-s3',
        'resource',
        b.resource,
        `${spec.name}/bindings/${i}/resource`,
      );
      if (!b.disable) paths.set(i, r.path.replace(/^\/+|\/+$/g, ''));
    });
    return new S3Materialization(spec.name, config, paths, opts);
  }

  private get store() {
    return this.opts.blobs({
      bucket: this.config.bucket,
      region: this.config.region,
      endpoint: this.config.endpoint,
      credentials:
        this.config.awsAccessKeyId && this.config.awsSecretAccessKey
          ? { accessKeyId: this.config.awsAccessKeyId, secretAccessKey: this.config.awsSecretAccessKey }
          : undefined,
    });
  }

  private get checkpointFolder(): string {
    return checkpointFolderOf(this.config.prefix, this.name);
  }

  async apply(): Promise<void> {}

  async open(): Promise<{ checkpoint: Checkpoint }> {
    const store = this.store;
    const folder = this.checkpointFolder;
    const checkpoint: Checkpoint = {};
    for (const key of await store.list(folder)) {
      const body = await store.get(key);
      if (!body) continue; // deleted between the listing and the read
      const { entry, position } = JSON.parse(new TextDecoder().decode(body)) as {
        entry: string;
        position: string;
      };
      checkpoint[entry] = position;
    }
    return { checkpoint };
  }

  async load(): Promise<Map<string, Json>> {
    return new Map();
  }

  /** Object keys a transaction writes (deterministic). */
  objectKeys(txn: MaterializeTransaction): { binding: number; key: string; docs: JsonObject[] }[] {
    const cp = Object.entries(txn.checkpoint).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Each distinct position once: a live transaction's checkpoint holds the shard's position and, per
    // backfilled binding of the collection, its own at the same place; repeated, many bindings made names
    // longer than S3's 1,024-byte key limit. The hash below still covers every entry.
    const upto =
      [...new Set(cp.map(([, p]) => p.replace(/^0+/, '').replace(/:0*(\d)/, '.$1')))].join('_') || 'none';
    const out: { binding: number; key: string; docs: JsonObject[] }[] = [];
    const fallback = this.opts.now?.() ?? Date.now();
    for (const { binding, docs } of txn.bindings) {
      const path = this.paths.get(binding);
      if (path === undefined || docs.length === 0) continue;
      const parts = new Map<string, JsonObject[]>();
      for (const d of docs) {
        const doc: JsonObject = isObject(d.doc) ? d.doc : { value: d.doc };
        const stored = d.deleted
          ? { ...doc, _meta: { ...(isObject(doc._meta) ? doc._meta : {}), op: 'd' } }
          : doc;
        const p = partitionOf(uuidTime(d.doc) ?? fallback);
        parts.set(p, [...(parts.get(p) ?? []), stored]);
      }
      for (const [p, list] of parts) {
        const hash = createHash('sha256')
          .update(JSON.stringify([this.name, binding, cp, p]))
          .digest('hex')
          .slice(0, 16);
        out.push({ binding, key: `${this.prefix}${path}/${p}/${upto}-${hash}.jsonl.gz`, docs: list });
      }
    }
    return out;
  }

  async commit(txn: MaterializeTransaction): Promise<void> {
    const store = this.store;
    for (const o of this.objectKeys(txn)) {
      const body = gzipSync(Buffer.from(`${o.docs.map((d) => JSON.stringify(d)).join('\n')}\n`));
      await store.put(o.key, body, 'application/x-ndjson');
    }
    // One object per entry, written only by the invocation that owns that shard (ParallelizationFactor
    // 1): no read-modify-write, so concurrent shards cannot overwrite each other's progress. The task
    // never moves a shard's position backwards.
    for (const [entry, position] of Object.entries(txn.checkpoint))
      await store.put(
        checkpointObject(this.checkpointFolder, entry),
        Buffer.from(JSON.stringify({ entry, position })),
        'application/json',
      );
  }

  /** A bumped backfill counter re-delivers the history (delta, at least once): files already written stay; the history is written again as new delta files. */
  async reset(): Promise<void> {}

  async close(): Promise<void> {}
}
