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
 * Each document carries `_meta/file` (`<bucket>/<key>`, as Estuary's filesource) and `_meta/offset` (record
 * index): processing an object twice yields the same documents. An empty object holds no records.
 *
 * Exactly once (source.ts): each document's origin is `<capture>/<bucket>/<key>#<content hash>@<record
 * index>`, so reading an object again — a poll that crashed after its append, a redelivered or duplicated
 * S3 event, a poll reading an object an event already brought — appends documents that the persister and
 * derivations drop. The content hash (SHA-256 of the bytes read, standing in for the ETag) makes an
 * object overwritten with other content a new source, read in full. `_meta/uuid` is derived from the
 * origin, its time the object's LastModified. Limit: each object is its own origin source — objects are
 * not read in any order that a single per-binding position could follow without dropping a late one — so
 * a collection key that gathers documents of many objects keeps one applied entry per object in its
 * reduced-view item, and a derivation reading the collection one per object in each input shard's
 * watermark item (≈ 100 bytes each: a few thousand objects fill DynamoDB's 400 KB item, until those maps
 * expire, issue 10).
 *
 * The `done` list is bounded (`DONE_WINDOW_MS`): keys last modified more than a window before the newest
 * object seen are dropped from it, and objects that old are not read (see `poll`).
 */
import { createHash } from 'node:crypto';
import type { CaptureSpec } from '../catalog/model.ts';
import { isObject, type Json } from '../json/types.ts';
import type { BlobStore } from '../ports/blob.ts';
import { BlobTooLargeError } from '../ports/blob.ts';
import { resolveConfigSecrets, type SecretResolver, validateConnectorJson } from './config.ts';
import { ObjectLimitError, SourceParseError } from './errors.ts';
import {
  type Compression,
  type CsvOptions,
  DEFAULT_PARSE_LIMITS,
  type FormatType,
  type ParsedRecord,
  type ParseLimits,
  parseRecords,
} from './parsers.ts';
import {
  type CapturedBatch,
  OBJECT_POSITION,
  type PollingSource,
  type PollResult,
  SIZE_MARK,
} from './source.ts';

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
  /** Otherwise: processed keys per binding stream, those last modified at or after `since`. */
  done?: Record<string, string[]>;
  /**
   * Per binding stream (with a store that reports LastModified): objects last modified before this time
   * (Unix ms) have all been read; they are neither listed in `done` nor read again.
   */
  since?: Record<string, number>;
  /**
   * The LastModified (Unix ms) each key of `done` had when it was read, per binding stream: an object
   * modified since is read again (overwritten with new content), as Estuary's filesource re-reads an
   * object modified after its bound. State saved before it has none: those keys count from now.
   */
  seen?: Record<string, Record<string, number>>;
}

/**
 * How long after an object's LastModified it may first appear in a listing. S3 dates an object from the
 * start of its upload, and a (multipart) upload becomes visible only when it completes, so a listing can
 * show an object older than one already read. `poll` keeps `done` entries (and reads unlisted objects)
 * back to this long before the newest LastModified seen — S3's clock, not ours, so Lambda's clock skew
 * does not matter — and no further: an object whose upload took longer than this to complete would not
 * be read. A day: far beyond a 5 GB single PUT or a typical multipart upload; the list then holds one
 * day of keys instead of every key ever read.
 */
export const DONE_WINDOW_MS = 24 * 3600_000;

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
    // Estuary matches `matchKeys` against the object's path, bucket first; Sluice matched the key alone,
    // and still does, so that an earlier catalog's pattern (`^in/.*\.csv$`) keeps its objects.
    if (this.match && !this.match.test(`${this.config.bucket}/${key}`) && !this.match.test(key))
      return undefined;
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

  /**
   * An object's LastModified (Unix ms; one LIST of the key), for the uuid time of an object an event
   * names. 0 when the store cannot say, or may not list (a bucket shared with GetObject only): the time
   * is only the uuid's, never worth failing the capture for.
   */
  private async lastModified(key: string): Promise<number> {
    try {
      const found = (await this.store.listInfo?.(key))?.find((o) => o.key === key);
      return found?.lastModified ?? 0;
    } catch (e) {
      if ((e as { code?: string }).code === 'AccessDenied') return 0;
      throw e;
    }
  }

  /**
   * Parse the named objects (from an S3 event, or a poll with their LastModified in `modified`); keys
   * outside every binding are ignored. Every document has its origin (see the header). A record that does
   * not parse, and an object that cannot be read as documents at all (over a limit, not gzip or UTF-8),
   * come back as `unread`, for the capture to halt at or park; a failure to reach the bucket throws.
   */
  async readObjects(keys: string[], modified?: Map<string, number>): Promise<CapturedBatch> {
    const out: CapturedBatch = { docs: [], unread: [] };
    for (const key of keys) {
      const binding = this.bindingOf(key);
      if (binding === undefined) continue;
      await this.readObject(key, binding, modified, out);
    }
    return out;
  }

  async reread(file: string): Promise<CapturedBatch> {
    const out: CapturedBatch = { docs: [], unread: [] };
    const binding = this.bindingOf(file);
    if (binding !== undefined) await this.readObject(file, binding, undefined, out);
    return out;
  }

  private async readObject(
    key: string,
    binding: number,
    modified: Map<string, number> | undefined,
    out: CapturedBatch,
  ): Promise<void> {
    const limits = this.limits();
    const ms = async () => modified?.get(key) ?? (await this.lastModified(key));
    const unreadObject = async (source: string, error: Error) =>
      out.unread?.push({
        binding,
        file: key,
        scope: 'object',
        origin: { source, position: OBJECT_POSITION, ms: await ms() },
        error,
      });
    let body: Uint8Array | undefined;
    try {
      body = await this.store.get(key, { maxBytes: limits.maxObjectBytes });
    } catch (e) {
      if (!(e instanceof BlobTooLargeError)) throw e;
      const error = new ObjectLimitError(
        this.config.bucket,
        key,
        `object of ${e.size} bytes is over ${e.limit} bytes (advanced.maxObjectBytes)`,
      );
      // Not read, so no content hash: its size stands in for it (capture-parking.ts checks it on redrive).
      await unreadObject(`${this.config.bucket}/${key}${SIZE_MARK}${e.size}`, error);
      return;
    }
    if (body === undefined) return; // deleted since the notification
    if (body.length === 0) return; // as Estuary's filesource: an empty object holds no records
    // 64 bits of the content's hash tell versions of one key apart; kept short because every consumer
    // that dedupes keeps one entry per source (see the header's limit).
    const source = `${this.config.bucket}/${key}#${createHash('sha256').update(body).digest('hex').slice(0, 16)}`;
    out.bytes ??= {};
    out.bytes[source] = body.length;
    let records: ParsedRecord[];
    try {
      records = parseRecords(key, body, {
        format: this.config.parser.format?.type ?? 'auto',
        compression: this.config.parser.compression,
        csv: this.config.parser.format?.config,
        limits,
        bucket: this.config.bucket,
      });
    } catch (e) {
      if (!(e instanceof SourceParseError || e instanceof ObjectLimitError)) throw e;
      await unreadObject(source, e);
      return;
    }
    const at = await ms();
    // `_meta/file` is the object's path, bucket first, as Estuary's filesource writes it (errors keep
    // naming the key, beside the bucket where they name one).
    const path = `${this.config.bucket}/${key}`;
    for (const r of records) if ('doc' in r && isObject(r.doc._meta)) r.doc._meta.file = path;
    records.forEach((r, i) => {
      const origin = { source, position: String(i).padStart(12, '0'), ms: at };
      if ('doc' in r) out.docs.push({ binding, doc: r.doc, origin });
      else
        out.unread?.push({ binding, file: key, scope: 'record', origin, raw: r.error.text, error: r.error });
    });
  }

  async poll(stateJson: Json | undefined): Promise<PollResult> {
    const state: S3SourceState = isObject(stateJson) ? (structuredClone(stateJson) as S3SourceState) : {};
    const ascending = this.config.advanced?.ascendingKeys === true;
    const todo: string[] = [];
    const modified = new Map<string, number>();
    let more = false;
    const next: S3SourceState = ascending
      ? { after: { ...(state.after ?? {}) } }
      : { done: {}, since: {}, seen: {} };
    for (const [i, r] of this.resources.entries()) {
      if (this.spec.bindings[i]?.disable) continue;
      const prefix = this.prefixOf(r);
      const info = this.store.listInfo
        ? await this.store.listInfo(prefix)
        : (await this.store.list(prefix)).map((key) => ({ key, lastModified: undefined }));
      for (const o of info) if (o.lastModified !== undefined) modified.set(o.key, o.lastModified);
      const since = state.since?.[r.stream];
      // Objects older than `since` were all read (see DONE_WINDOW_MS): not listed in `done`, not read.
      const keys = info
        .filter((o) => this.bindingOf(o.key) === i)
        .filter((o) => since === undefined || o.lastModified === undefined || o.lastModified >= since)
        .map((o) => o.key);
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
        const seenAt = state.seen?.[r.stream] ?? {};
        // Not read yet, or modified since it was read (an object overwritten under its key).
        const changed = (k: string) => {
          const was = Object.hasOwn(seenAt, k) ? seenAt[k] : undefined;
          const now = modified.get(k);
          return was !== undefined && now !== undefined && now > was;
        };
        const fresh = keys.filter((k) => !done.has(k) || changed(k));
        const take = fresh.slice(0, Math.max(0, this.maxObjects - todo.length));
        if (take.length < fresh.length) more = true;
        todo.push(...take);
        const present = new Set(keys);
        // keep only keys still in the bucket, so the state does not grow with deleted objects
        let kept = [...new Set([...[...done].filter((k) => present.has(k)), ...take])].sort();
        // Move `since` up to a window before the newest object seen, never past an object not yet read
        // (left for the next poll by maxObjects), then forget the keys older than it.
        const left = new Set(fresh.slice(take.length));
        let lm = -Infinity;
        let oldestLeft = Infinity;
        for (const k of keys) {
          const t = modified.get(k);
          if (t === undefined) continue;
          lm = Math.max(lm, t);
          if (left.has(k)) oldestLeft = Math.min(oldestLeft, t);
        }
        let nextSince = since;
        if (Number.isFinite(lm)) {
          const candidate = Math.min(lm - DONE_WINDOW_MS, oldestLeft);
          nextSince = since === undefined ? candidate : Math.max(since, candidate);
        }
        if (nextSince !== undefined && next.since) {
          next.since[r.stream] = nextSince;
          const floor = nextSince;
          kept = kept.filter((k) => (modified.get(k) ?? floor) >= floor);
        }
        if (next.done) next.done[r.stream] = kept;
        if (next.seen) {
          // A key read now is seen at its LastModified now; one left for a later poll keeps what it had.
          const taken = new Set(take);
          const seen: Record<string, number> = {};
          for (const k of kept) {
            const at = taken.has(k) || !Object.hasOwn(seenAt, k) ? modified.get(k) : seenAt[k];
            if (at !== undefined) seen[k] = at;
          }
          next.seen[r.stream] = seen;
        }
      }
    }
    return { ...(await this.readObjects(todo, modified)), state: next as Json, more };
  }

  async close(): Promise<void> {}
}
