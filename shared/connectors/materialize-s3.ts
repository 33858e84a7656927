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
 * transaction overwrites the same objects. After the data files, the checkpoint is written to
 * `<prefix>_sluice/checkpoints/<materialization>.json`; `open()` returns it, so the task skips what was
 * committed. That object is the only one it reads: deployed, its role may PutObject under the prefix,
 * GetObject only the checkpoint, and ListBucket only with the checkpoint key as prefix (so that a first
 * run, with no checkpoint yet, gets 404 rather than 403 from S3). S3 has no transactions: a crash between the data files and the checkpoint, followed by a
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
 * The one object a materialization reads back: its checkpoint, `<prefix>_sluice/checkpoints/<name>.json`
 * (the stack grants GetObject on exactly this key, infra/sluice-catalog.ts).
 */
export function checkpointKeyOf(prefix: string | undefined, materialization: string): string {
  return `${s3Folder(prefix)}_sluice/checkpoints/${materialization}.json`;
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

  private checkpointKey(): string {
    return checkpointKeyOf(this.config.prefix, this.name);
  }

  async apply(): Promise<void> {}

  async open(): Promise<{ checkpoint: Checkpoint }> {
    const body = await this.store.get(this.checkpointKey());
    if (!body) return { checkpoint: {} };
    return { checkpoint: JSON.parse(new TextDecoder().decode(body)) as Checkpoint };
  }

  async load(): Promise<Map<string, Json>> {
    return new Map();
  }

  /** Object keys a transaction writes (deterministic). */
  objectKeys(txn: MaterializeTransaction): { binding: number; key: string; docs: JsonObject[] }[] {
    const cp = Object.entries(txn.checkpoint).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const upto = cp.map(([, p]) => p.replace(/^0+/, '').replace(/:0*(\d)/, '.$1')).join('_') || 'none';
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
    const prev = (await this.open()).checkpoint;
    const next: Checkpoint = { ...prev };
    for (const [shard, pos] of Object.entries(txn.checkpoint)) {
      if (next[shard] === undefined || (next[shard] as string) < pos) next[shard] = pos;
    }
    await store.put(this.checkpointKey(), Buffer.from(JSON.stringify(next)), 'application/json');
  }

  /** A bumped backfill counter re-delivers the history (delta, at least once): files already written stay; the history is written again as new delta files. */
  async reset(): Promise<void> {}

  async close(): Promise<void> {}
}
