/**
 * Parked documents: the opt-in `park` failure policy (issue 9; the default is `halt`).
 *
 * Under `park`, a document a task cannot process — and only that document, not the documents packed
 * with it in one Kinesis record — is written with its error to
 * `<prefix><collection>/<shardId>/<position>.json` in the fragments bucket (`<prefix>` is
 * `_sluice/parked/<task label>/`, SLUICE_PARKED), and the task goes on. The name is the document's own
 * stream position, so parking the same document again (a retried batch) overwrites the same object.
 *
 * Redrive applies parked documents again, exactly once, although the task's positions have moved past
 * them: each parked document is re-presented on a *redrive shard* `redrive-<shardId>` (and, when it
 * carries an origin, under the source `<source>#redrive`) at its original position. Every task keys its
 * exactly-once bookkeeping by shard and source (checkpoints, applied maps, origin watermarks), so a
 * redrive shard is bookkept like any other: its documents are applied once, in position order, and a
 * second redrive of them (a crash between applying and removing the parked objects) is skipped.
 * Redrive stops a shard at its first document that fails again, leaving it and every later one parked:
 * applying a later one first would move the redrive shard's position past the failing one.
 *
 * Only document errors park (documentError): what the document itself makes fail — a derivation that
 * throws on it, a reduction or schema it violates, a value the destination rejects. An outage (network,
 * throttling, permissions, a fence) would fail every document alike: it halts instead, so that a
 * PostgreSQL failover never parks a whole shard.
 */
import type { ParkedDocInfo } from '../console/api-types.ts';
import { isObject, type Json } from '../json/types.ts';
import type { BlobStore } from './blob.ts';
import type { DocBatch, SourceDoc } from './events.ts';

export const PARKED_ROOT = '_sluice/parked/';

/** The parking place of a task (its label, e.g. `derivation:acme/totals`) in a bucket. */
export function parkedPrefix(label: string): string {
  return `${PARKED_ROOT}${label}/`;
}

/** A parked document as stored: where it was, what it was, why it failed. */
export interface ParkedDoc {
  /** The task label that parked it. */
  task: string;
  collection: string;
  shardId: string;
  sequenceNumber: string;
  index: number;
  streamPosition: string;
  source: string;
  position: string;
  hasOrigin: boolean;
  arrivalMs: number;
  doc: Json;
  /** `<error name>: <message>` of the failure (Sluice's errors name keys and pointers, not values). */
  error: string;
  parkedAt: string;
  /** Failed redrives so far, with the last one's error in `error`. */
  redriveAttempts?: number;
  /**
   * Set when a capture parked it (connectors/capture-parking.ts): its binding, and for what it read but
   * could not parse, the object (`file`) and whether one record (`doc` is its text) or the whole object
   * (`doc` is null) failed. `shardId` then names the origin source and `streamPosition` the position.
   */
  capture?: {
    binding: number;
    file?: string;
    unread?: 'record' | 'object';
    /** Redriven under a source of its own (`<source>#redrive:<this>`): set before it is appended. */
    redriveAlone?: string;
  };
}

/** Why a batch was parked or redriven: what the task function reports. */
export interface RedriveResult {
  /** Documents applied again and removed from the parking place. */
  redriven: number;
  /** Documents still parked (failed again, or behind one that did on their shard). */
  remaining: number;
  /** Per redrive shard that stopped: the first document that failed again. */
  failures: {
    collection: string;
    shardId: string;
    position: string;
    /** Where it was, for people (whereParked). */
    where: string;
    error: string;
  }[];
}

/**
 * Where a parked document was, for people: a stream position as `shard <id> · position <seq>#<index>`; a
 * capture's record as its object and record index (0-based, `_meta/offset`), a whole object as the
 * object, anything else a capture parked (a table row) as its origin source and position.
 */
export function whereParked(p: ParkedDoc): string {
  if (p.capture) {
    if (p.capture.unread === 'object') return `object ${p.capture.file ?? p.source}`;
    const meta = isObject(p.doc) && isObject(p.doc._meta) ? p.doc._meta : {};
    const file = p.capture.file ?? (typeof meta.file === 'string' ? meta.file : undefined);
    return file && /^[0-9]+$/.test(p.position)
      ? `${file} record ${Number(p.position)}`
      : `${p.source} at ${p.position}`;
  }
  return `shard ${p.shardId} · position ${p.sequenceNumber}#${p.index}`;
}

/** A parked document as listed (`sluice parked`, the console): where, why, when, what. */
export function parkedInfo(key: string, p: ParkedDoc): ParkedDocInfo {
  return {
    key,
    collection: p.collection,
    shardId: p.shardId,
    streamPosition: p.streamPosition,
    where: whereParked(p),
    error: p.error,
    parkedAt: p.parkedAt,
    redriveAttempts: p.redriveAttempts,
    doc: p.doc,
  };
}

export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * True when `e` is a failure of the document itself, which retrying cannot fix: park-able. Everything
 * else (network, throttling, AccessDenied, fences, timeouts) is an outage of something the document
 * does not control: those halt even under `park`.
 */
export function documentError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  switch (e.name) {
    case 'DerivationError':
      // A module that fails to load, or committed state that cannot be opened, fails every document:
      // not this one's fault.
      return !['ModuleLoad', 'StateRestore'].includes((e as { code?: string }).code ?? '');
    case 'ReduceError':
    case 'SchemaValidationError':
    case 'KeyEncodeError':
    case 'RedactError':
    case 'FieldMappingError':
      return true;
    case 'EndpointError': {
      // A destination's 4xx other than timeouts and throttling: it refuses this content.
      const status = (e as { status?: number }).status;
      return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
    }
    case 'ValidationException':
      // DynamoDB refusing an item (too large, a key too long, an empty set): the item, not the service.
      return true;
    default: {
      // PostgreSQL: SQLSTATE class 22 (data exception: a value out of range, bad encoding…) and 23
      // (integrity constraint violation) are the row's; others (connection, lock, admin) are not.
      const sqlstate = (e as { code?: unknown }).code;
      if (typeof sqlstate === 'string' && /^2[23][0-9A-Z]{3}$/.test(sqlstate)) return true;
      return false;
    }
  }
}

const REDRIVE_SHARD = 'redrive-';
const REDRIVE_SOURCE = '#redrive';

/** The redrive shard of a parked document's shard. */
export function redriveShard(shardId: string): string {
  return shardId.startsWith(REDRIVE_SHARD) ? shardId : `${REDRIVE_SHARD}${shardId}`;
}

/** The shard a document was parked from: a redrive shard's original. */
function parkedShard(shardId: string): string {
  return shardId.startsWith(REDRIVE_SHARD) ? shardId.slice(REDRIVE_SHARD.length) : shardId;
}

/**
 * The origin source a redriven document is bookkept under: `<source>#redrive`; or, for a capture's record
 * redriven while an earlier one of its source stays parked, `<source>#redrive:<its position>`, a source of
 * its own (connectors/capture-parking.ts). And back.
 */
export function redriveSource(source: string, alone?: string): string {
  const base = parkedSource(source);
  return alone === undefined ? `${base}${REDRIVE_SOURCE}` : `${base}${REDRIVE_SOURCE}:${alone}`;
}
function parkedSource(source: string): string {
  const i = source.lastIndexOf(REDRIVE_SOURCE);
  return i >= 0 && /^(:[^/@#]*)?$/.test(source.slice(i + REDRIVE_SOURCE.length))
    ? source.slice(0, i)
    : source;
}

/**
 * Whether a dedup source names redriven documents (redriveBatches): `<collection>/<redrive shard>` for
 * documents without an origin, `<origin source>#redrive` for the others.
 */
export function isRedriveSource(source: string): boolean {
  return (
    parkedSource(source) !== source || source.slice(source.lastIndexOf('/') + 1).startsWith(REDRIVE_SHARD)
  );
}

export class ParkingLot {
  constructor(
    private readonly blobs: BlobStore,
    /** `_sluice/parked/<label>/` */
    readonly prefix: string,
    readonly task: string,
  ) {}

  key(collection: string, shardId: string, streamPosition: string): string {
    return `${this.prefix}${collection}/${shardId}/${streamPosition}.json`;
  }

  async park(collection: string, d: SourceDoc, error: unknown, redriveAttempts?: number): Promise<string> {
    // A document parked again by a redrive keeps its original shard in the record.
    const shardId = parkedShard(d.shardId);
    const p: ParkedDoc = {
      task: this.task,
      collection,
      shardId,
      sequenceNumber: d.sequenceNumber,
      index: d.index,
      streamPosition: d.streamPosition,
      source: d.hasOrigin ? parkedSource(d.source) : `${collection}/${shardId}`,
      position: d.position,
      hasOrigin: d.hasOrigin === true,
      arrivalMs: d.arrivalMs,
      doc: d.doc,
      error: describeError(error),
      parkedAt: new Date().toISOString(),
      ...(redriveAttempts ? { redriveAttempts } : {}),
    };
    return this.put(p);
  }

  /**
   * The names (`streamPosition`s) under one shard's folder, parked or settled (connectors/capture-parking.ts:
   * a capture does not append a record the lot holds).
   */
  async names(collection: string, shardId: string): Promise<string[]> {
    const folder = `${this.prefix}${collection}/${shardId}/`;
    return (await this.blobs.list(folder))
      .map((k) => k.slice(folder.length))
      .flatMap((n) => {
        const m = /^(.+)\.(json|redriven)$/.exec(n);
        return m ? [m[1] as string] : [];
      });
  }

  /**
   * A capture's redriven record: a tombstone takes its place (so that the record read again is not
   * appended again), then the parked record goes. A crash between leaves both: listed, and redriven again
   * to no effect (its origin).
   */
  async settle(key: string): Promise<void> {
    const tombstone = `${key.slice(0, -'.json'.length)}.redriven`;
    await this.blobs.put(
      tombstone,
      Buffer.from(`${JSON.stringify({ redrivenAt: new Date().toISOString() })}\n`),
      'application/json',
    );
    await this.blobs.delete(key);
  }

  /** Write a parked record at its name (collection, shard, position): parking it again overwrites it. */
  async put(p: ParkedDoc): Promise<string> {
    const key = this.key(p.collection, p.shardId, p.streamPosition);
    await this.blobs.put(key, Buffer.from(`${JSON.stringify(p)}\n`), 'application/json');
    return key;
  }

  /**
   * The task's parked documents, in (collection, shard, position) order: all of them, or the first
   * `limit` (a listing page need not read every parked object).
   */
  async list(limit = Number.POSITIVE_INFINITY): Promise<{ key: string; parked: ParkedDoc }[]> {
    const out: { key: string; parked: ParkedDoc }[] = [];
    for (const key of await this.blobs.list(this.prefix)) {
      if (out.length >= limit) break;
      if (!key.endsWith('.json')) continue;
      const body = await this.blobs.get(key);
      if (!body) continue; // removed meanwhile by a redrive
      out.push({ key, parked: JSON.parse(Buffer.from(body).toString('utf8')) as ParkedDoc });
    }
    return out;
  }

  async remove(key: string): Promise<void> {
    await this.blobs.delete(key);
  }
}

/**
 * Parked documents grouped by `group` (each group in its first member's place), each in `order`'s order:
 * what a redrive applies one group at a time, in position order.
 */
export function parkedGroups(
  parked: { key: string; parked: ParkedDoc }[],
  group: (p: ParkedDoc) => string,
  order: (p: ParkedDoc) => string,
): { key: string; parked: ParkedDoc }[][] {
  const groups = new Map<string, { key: string; parked: ParkedDoc }[]>();
  for (const p of parked) {
    const g = group(p.parked);
    const list = groups.get(g);
    if (list) list.push(p);
    else groups.set(g, [p]);
  }
  for (const list of groups.values())
    list.sort((a, b) => (order(a.parked) < order(b.parked) ? -1 : order(a.parked) > order(b.parked) ? 1 : 0));
  return [...groups.values()];
}

/**
 * Parked documents grouped into redrive batches: one per (collection, shard), in position order, on the
 * redrive shard, with sources rewritten so that every task's exactly-once bookkeeping treats them as
 * a source of their own.
 */
export function redriveBatches(parked: { key: string; parked: ParkedDoc }[]): {
  batch: DocBatch;
  keys: string[];
  records: ParkedDoc[];
}[] {
  const groups = parkedGroups(
    parked,
    (p) => `${p.collection}\n${p.shardId}`,
    (p) => p.streamPosition,
  );
  return groups.map((list) => {
    const { collection, shardId } = list[0].parked;
    const shard = redriveShard(shardId);
    const docs: SourceDoc[] = list.map(({ parked: p }) => ({
      doc: p.doc,
      shardId: shard,
      sequenceNumber: p.sequenceNumber,
      index: p.index,
      streamPosition: p.streamPosition,
      source: p.hasOrigin ? redriveSource(p.source) : `${collection}/${shard}`,
      position: p.position,
      hasOrigin: p.hasOrigin,
      arrivalMs: p.arrivalMs,
    }));
    return {
      batch: { collection, shardId: shard, docs, bytes: 0, redrive: true },
      keys: list.map((x) => x.key),
      records: list.map((x) => x.parked),
    };
  });
}
