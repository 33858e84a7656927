/**
 * source-s3: documents from objects under a bucket/prefix.
 *
 * Config (Estuary's): `{bucket, prefix = '', region = us-east-1, matchKeys?, awsAccessKeyId?,
 * awsSecretAccessKey?, parser: {format: {type: json|jsonl|csv|auto, config?: {headers, delimiter, quote,
 * escape}}, compression: gzip|none|auto}, advanced?: {ascendingKeys, endpoint}}`; resource `{stream}`:
 * as Estuary's connector discovers it, `<bucket>/<key prefix>` (its filesource path: the bucket, then the
 * prefix); anything else is Sluice's earlier form, a sub-prefix under `prefix` ('' for all of it).
 *
 * Two ways in: `poll(state)` lists the prefix and parses objects not yet processed (an EventBridge
 * schedule when the capture has an `interval`), and `readObjects(keys)` parses the objects an S3 "Object
 * Created" event names (functions/s3-capture.ts; `s3CaptureRequest` below reads the invocation event).
 * Poll state: with `advanced.ascendingKeys` only the greatest key processed (keys must then be written in
 * ascending order); otherwise the set of processed keys still present in the bucket.
 * Objects are bounded (parsers.ts ParseLimits, `advanced.maxObjectBytes|maxDecompressedBytes|maxLineBytes`):
 * one over a limit fails the read with ObjectLimitError (bucket, key, reason), a catchable error the
 * capture's failure policy handles like any bad object.
 * Each document carries `_meta/file` (object key) and `_meta/offset` (record index): processing an object
 * twice yields the same documents, so a collection keyed by `[/_meta/file, /_meta/offset]` absorbs replays.
 */
import type { CaptureSpec } from '../catalog/model.ts';
import { isObject, type Json } from '../json/types.ts';
import type { BlobStore } from '../ports/blob.ts';
import { BlobTooLargeError } from '../ports/blob.ts';
import { resolveConfigSecrets, type SecretResolver, validateConnectorJson } from './config.ts';
import { ObjectLimitError } from './errors.ts';
import {
  type Compression,
  type CsvOptions,
  DEFAULT_PARSE_LIMITS,
  type FormatType,
  type ParseLimits,
  parseObject,
} from './parsers.ts';
import type { CapturedDoc, PollingSource, PollResult } from './source.ts';

export interface SourceS3Config {
  bucket: string;
  prefix: string;
  region: string;
  matchKeys?: string;
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
  endpoint?: string;
  parser: { format?: { type: FormatType; config?: CsvOptions }; compression: Compression };
  advanced?: { ascendingKeys?: boolean; endpoint?: string } & Partial<ParseLimits>;
}

export interface SourceS3Resource {
  stream: string;
}

/** Opens the BlobStore of a bucket (the S3 adapter on AWS / the emulator; memory in unit tests). */
export type BlobStoreFactory = (config: {
  bucket: string;
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}) => BlobStore;

export interface SourceS3Options {
  spec: CaptureSpec;
  blobs: BlobStoreFactory;
  secret?: SecretResolver;
  /** Objects parsed per poll at most (then `more: true`). Default 100. */
  maxObjectsPerPoll?: number;
}

export interface S3SourceState {
  /** ascendingKeys: the greatest key processed, per binding stream. */
  after?: Record<string, string>;
  /** Otherwise: processed keys per binding stream. */
  done?: Record<string, string[]>;
}

export class S3Source implements PollingSource {
  private readonly store: BlobStore;
  private readonly match: RegExp | undefined;

  private constructor(
    private readonly spec: CaptureSpec,
    readonly config: SourceS3Config,
    private readonly resources: SourceS3Resource[],
    blobs: BlobStoreFactory,
    private readonly maxObjects: number,
  ) {
    this.store = blobs({
      bucket: config.bucket,
      region: config.region,
      endpoint: config.endpoint ?? config.advanced?.endpoint,
      credentials:
        config.awsAccessKeyId && config.awsSecretAccessKey
          ? { accessKeyId: config.awsAccessKeyId, secretAccessKey: config.awsSecretAccessKey }
          : undefined,
    });
    this.match = config.matchKeys ? new RegExp(config.matchKeys) : undefined;
  }

  static async create(opts: SourceS3Options): Promise<S3Source> {
    const { spec } = opts;
    const config = validateConnectorJson<SourceS3Config>(
      'source-s3',
      'config',
      spec.endpoint.config,
      `${spec.name}/endpoint/connector/config`,
    );
    await resolveConfigSecrets('source-s3', config, opts.secret);
    const resources = spec.bindings.map((b, i) =>
      validateConnectorJson<SourceS3Resource>(
        'source-s3',
        'resource',
        b.resource,
        `${spec.name}/bindings/${i}/resource`,
      ),
    );
    return new S3Source(spec, config, resources, opts.blobs, opts.maxObjectsPerPoll ?? 100);
  }

  /** The parse limits: `advanced` overrides, else DEFAULT_PARSE_LIMITS. */
  private limits(): ParseLimits {
    const a = this.config.advanced ?? {};
    return {
      maxObjectBytes: a.maxObjectBytes ?? DEFAULT_PARSE_LIMITS.maxObjectBytes,
      maxDecompressedBytes: a.maxDecompressedBytes ?? DEFAULT_PARSE_LIMITS.maxDecompressedBytes,
      maxLineBytes: a.maxLineBytes ?? DEFAULT_PARSE_LIMITS.maxLineBytes,
    };
  }

  private prefixOf(r: SourceS3Resource): string {
    // Estuary's `stream` is a filesource path, `<bucket>/<prefix>` (filesource.PartsToPath).
    const estuary = `${this.config.bucket}/`;
    if (r.stream === this.config.bucket || r.stream.startsWith(estuary))
      return r.stream.slice(estuary.length);
    return `${this.config.prefix}${r.stream}`;
  }

  /** Whether an object key belongs to a binding (prefix and matchKeys), or undefined. */
  bindingOf(key: string): number | undefined {
    if (this.match && !this.match.test(key)) return undefined;
    if (key.endsWith('/')) return undefined;
    let best: number | undefined;
    let bestLen = -1;
    this.resources.forEach((r, i) => {
      const p = this.prefixOf(r);
      if (!this.spec.bindings[i]?.disable && key.startsWith(p) && p.length > bestLen) {
        best = i;
        bestLen = p.length;
      }
    });
    return best;
  }

  /** Parse the named objects (from an S3 event); keys outside every binding are ignored. */
  async readObjects(keys: string[]): Promise<CapturedDoc[]> {
    const out: CapturedDoc[] = [];
    for (const key of keys) {
      const binding = this.bindingOf(key);
      if (binding === undefined) continue;
      const limits = this.limits();
      let body: Uint8Array | undefined;
      try {
        body = await this.store.get(key, { maxBytes: limits.maxObjectBytes });
      } catch (e) {
        if (e instanceof BlobTooLargeError)
          throw new ObjectLimitError(
            this.config.bucket,
            key,
            `object of ${e.size} bytes is over ${e.limit} bytes (advanced.maxObjectBytes)`,
          );
        throw e;
      }
      if (body === undefined) continue; // deleted since the notification
      const docs = parseObject(key, body, {
        format: this.config.parser.format?.type ?? 'auto',
        compression: this.config.parser.compression,
        csv: this.config.parser.format?.config,
        limits,
        bucket: this.config.bucket,
      });
      for (const doc of docs) out.push({ binding, doc });
    }
    return out;
  }

  async poll(stateJson: Json | undefined): Promise<PollResult> {
    const state: S3SourceState = isObject(stateJson) ? (structuredClone(stateJson) as S3SourceState) : {};
    const ascending = this.config.advanced?.ascendingKeys === true;
    const todo: string[] = [];
    let more = false;
    const next: S3SourceState = ascending ? { after: { ...(state.after ?? {}) } } : { done: {} };
    for (const [i, r] of this.resources.entries()) {
      if (this.spec.bindings[i]?.disable) continue;
      const keys = (await this.store.list(this.prefixOf(r))).filter((k) => this.bindingOf(k) === i);
      if (ascending) {
        const after = state.after?.[r.stream] ?? '';
        const fresh = keys.filter((k) => k > after);
        const take = fresh.slice(0, Math.max(0, this.maxObjects - todo.length));
        if (take.length < fresh.length) more = true;
        todo.push(...take);
        const last = take[take.length - 1];
        if (last && next.after) next.after[r.stream] = last;
      } else {
        const done = new Set(state.done?.[r.stream] ?? []);
        const fresh = keys.filter((k) => !done.has(k));
        const take = fresh.slice(0, Math.max(0, this.maxObjects - todo.length));
        if (take.length < fresh.length) more = true;
        todo.push(...take);
        const present = new Set(keys);
        // keep only keys still in the bucket, so the state does not grow with deleted objects
        if (next.done) next.done[r.stream] = [...[...done].filter((k) => present.has(k)), ...take].sort();
      }
    }
    const docs = await this.readObjects(todo);
    return { docs, state: next as Json, more };
  }

  async close(): Promise<void> {}
}
