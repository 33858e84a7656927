/**
 * Captures under `park` (SluiceCatalogProps.onFailure, label `capture:<name>`): what a polling or S3 capture
 * read but cannot append — a document its collection's write schema refuses, a record that does not parse,
 * an object that cannot be read as documents at all (over a limit, not gzip or UTF-8) — is written with its
 * error to the capture's parking place (ports/parking.ts), and everything else is appended. Under `halt`
 * (the default) the capture stops at the first of them instead: a poll fails and keeps its state, an S3
 * event fails and EventBridge retries it, then dead-letters it.
 *
 * A parked record is named by where it was read: `<collection>/obj-<hash of its object>/<hash of its
 * source>.<position>.json`, the object being its origin source without the content version (source-s3:
 * the bucket and key; a table binding: itself). From then on its position belongs to the parking lot: a
 * read of the same record again (a re-poll after a crash, a redelivered event, the first poll over
 * objects their events brought) neither parks it twice nor appends it, even when it passes by then —
 * only the redrive appends it, so that it is appended once. A redriven record leaves a tombstone
 * (`….redriven`) in its place for the same reason; a record of a whole object stands for every record of
 * that object's version (its content hash, or its size when it was too large to read).
 *
 * `sluice redrive capture:<name>` appends parked records again, exactly once, although later records of
 * their source were appended long before (a consumer that applied line 7 of an object drops line 5 of it
 * as already seen): each is appended at its own position under the source `<source>#redrive`, which
 * consumers bookkeep as a source of its own, per source in position order. A record that fails again is
 * parked again with its new error and the count of attempts; the records after it in its source do not
 * wait for it (a malformed line may never parse): each goes under a source of its own,
 * `<source>#redrive:<position>`, so that the one left behind can still follow under `<source>#redrive`.
 * That choice is written into the parked record before the append, so that a redrive after a crash
 * between append and settling uses the same source, and its documents are dropped as seen.
 * What did not parse is read again from the bucket, as the capture read it: a record only while its
 * object still has the content it was parked from (the same hash: an object overwritten since is a new
 * source, read as such); a whole object as a fresh read of it would be.
 */
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.ts';
import type { JsonObject } from '../json/types.ts';
import { metaUuid } from '../meta/uuid.ts';
import {
  describeError,
  type ParkedDoc,
  type ParkingLot,
  parkedGroups,
  type RedriveResult,
  whereParked,
} from '../ports/parking.ts';
import {
  appendPrepared,
  type CaptureRunOptions,
  capturedDocError,
  prepareCaptured,
} from './capture-runner.ts';
import { ObjectLimitError, SourceParseError } from './errors.ts';
import {
  type CapturedDoc,
  OBJECT_POSITION,
  type PollingSource,
  SIZE_MARK,
  type UnreadItem,
} from './source.ts';

/** A parked record that cannot be read again as it was parked (its object changed or is gone). */
export class CaptureRedriveError extends SluiceError {
  readonly code = 'CaptureRedrive';
  constructor(message: string) {
    super(message);
    this.name = 'CaptureRedriveError';
  }
}

/** What a capture logs for each record it parks (functions/capture-setup.ts). */
export interface CaptureParkedInfo {
  key: string;
  collection: string;
  source: string;
  position: string;
  file?: string;
  error: string;
}

function hash16(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

/** Positions that can name an S3 object as they are (source-s3's record indexes); others are hashed. */
const PLAIN_POSITION = /^[0-9A-Za-z_:-]{1,200}$/;

/** The object of an origin source: the source without its content version (`#<hash>`, `#size:<n>`). */
function objectOf(source: string): string {
  return source.replace(/#(?:[0-9a-f]{16}|size:[0-9]+)$/, '');
}

/**
 * The folder (the lot's `shardId`) and name (its `streamPosition`) of a record parked from `source`.
 * `memo` keeps each source's two hashes for a caller placing many records of few sources.
 */
function placeOf(
  source: string,
  position: string,
  memo = new Map<string, { folder: string; version: string }>(),
): { shardId: string; streamPosition: string } {
  let h = memo.get(source);
  if (!h) {
    h = { folder: `obj-${hash16(objectOf(source))}`, version: hash16(source) };
    memo.set(source, h);
  }
  const name = PLAIN_POSITION.test(position) ? position : `h-${hash16(position)}`;
  return { shardId: h.folder, streamPosition: `${h.version}.${name}` };
}

/** Where a captured item is parked: its collection, its source as appended, its position. */
function parkedAt(
  o: CaptureRunOptions,
  item: CapturedDoc | UnreadItem,
): { collection: string; source: string; position: string } {
  const unread = 'scope' in item ? item : undefined;
  // A document without an origin (a table without a primary key) is named by its content.
  const content = unread ? unread.raw : (item as CapturedDoc).doc;
  return {
    collection: o.spec.bindings[item.binding]?.target ?? `binding-${item.binding}`,
    source: item.origin ? `${o.spec.name}/${item.origin.source}` : `${o.spec.name}/binding-${item.binding}`,
    position: item.origin?.position ?? `doc-${hash16(JSON.stringify(content))}`,
  };
}

/**
 * Which of a read's items the parking lot holds already (parked, or redriven: see the header), from one
 * listing of each object they come from. `bytes` (source-s3: by origin source) tells an object's size,
 * under which a whole object too large to read was parked.
 */
export async function heldByLot(
  o: CaptureRunOptions,
  lot: ParkingLot,
  items: (CapturedDoc | UnreadItem)[],
  bytes: Record<string, number> = {},
): Promise<(item: CapturedDoc | UnreadItem) => boolean> {
  // Each item's possible places, worked out once, its source's hashes once per source: the record
  // itself, or its object's version parked whole (by content hash, or by size when too large to read).
  const memo = new Map<string, { folder: string; version: string }>();
  const place = (source: string, position: string) => placeOf(source, position, memo);
  const placesOf = new Map<CapturedDoc | UnreadItem, string[]>();
  const folders = new Map<string, { collection: string; shardId: string }>();
  for (const item of items) {
    const at = parkedAt(o, item);
    const size = item.origin ? bytes[item.origin.source] : undefined;
    const whole = [at.source, ...(size !== undefined ? [`${objectOf(at.source)}${SIZE_MARK}${size}`] : [])];
    const places = [place(at.source, at.position), ...whole.map((w) => place(w, OBJECT_POSITION))];
    placesOf.set(
      item,
      places.map((p) => `${at.collection}/${p.shardId}/${p.streamPosition}`),
    );
    // All of an item's places are in its object's folder: one listing per object.
    folders.set(`${at.collection}/${places[0].shardId}`, {
      collection: at.collection,
      shardId: places[0].shardId,
    });
  }
  const held = new Set<string>();
  for (const { collection, shardId } of folders.values())
    for (const name of await lot.names(collection, shardId)) held.add(`${collection}/${shardId}/${name}`);
  return (item) => (placesOf.get(item) ?? []).some((p) => held.has(p));
}

/**
 * Park what a capture read but cannot append (the caller has checked with heldByLot that it is not
 * parked already); returns the parked object's key.
 */
export async function parkCaptured(
  o: CaptureRunOptions,
  lot: ParkingLot,
  item: CapturedDoc | UnreadItem,
  error: unknown,
): Promise<string> {
  const unread = 'scope' in item ? item : undefined;
  const { collection, source, position } = parkedAt(o, item);
  const origin = item.origin;
  const p: ParkedDoc = {
    task: lot.task,
    collection,
    ...placeOf(source, position),
    sequenceNumber: '0',
    index: 0,
    source,
    position,
    hasOrigin: origin !== undefined,
    arrivalMs: origin?.ms ?? 0,
    doc: unread ? (unread.raw ?? null) : (item as CapturedDoc).doc,
    error: describeError(error),
    parkedAt: new Date().toISOString(),
    capture: { binding: item.binding, ...(unread ? { file: unread.file, unread: unread.scope } : {}) },
  };
  const key = await lot.put(p);
  o.onParked?.({
    key,
    collection,
    source,
    position,
    ...(unread ? { file: unread.file } : {}),
    error: p.error,
  });
  return key;
}

/** The origin source of a parked record as its source reports it (without the capture's name). */
function sourceOf(o: CaptureRunOptions, p: ParkedDoc): string {
  const prefix = `${o.spec.name}/`;
  return p.source.startsWith(prefix) ? p.source.slice(prefix.length) : p.source;
}

/** The documents a parked record stands for, read again where it did not parse. */
async function capturedAgain(
  o: CaptureRunOptions,
  p: ParkedDoc,
  source: PollingSource,
): Promise<CapturedDoc[]> {
  const binding = p.capture?.binding ?? 0;
  const origin = p.hasOrigin ? { source: sourceOf(o, p), position: p.position, ms: p.arrivalMs } : undefined;
  const unread = p.capture?.unread;
  if (!unread) return [{ binding, doc: p.doc as JsonObject, ...(origin ? { origin } : {}) }];
  const file = p.capture?.file ?? '';
  if (!source.reread) throw new CaptureRedriveError(`${o.spec.name}: its source cannot read ${file} again`);
  const batch = await source.reread(file);
  const items = [...batch.docs, ...(batch.unread ?? [])];
  const wanted = sourceOf(o, p);
  // An object parked without being read (over maxObjectBytes) has no content hash to hold it to: its
  // size stands in (an object of another size is other content, which its own event brings).
  const size = wanted.lastIndexOf(SIZE_MARK);
  const same = (s: string | undefined) =>
    s === wanted ||
    (unread === 'object' &&
      size >= 0 &&
      s !== undefined &&
      batch.bytes?.[s] === Number(wanted.slice(size + SIZE_MARK.length)));
  if (items.length === 0 || !items.some((i) => same(i.origin?.source)))
    throw new CaptureRedriveError(
      `${file} is gone or changed since it was parked (read as ${wanted}): what it holds now is a new source, captured as such; remove this parked record (${p.collection}/${p.shardId}/${p.streamPosition}.json) once you have what you need from it`,
    );
  if (unread === 'object') {
    const bad = batch.unread?.[0];
    if (bad) throw bad.error;
    return batch.docs;
  }
  const item = items.find((i) => same(i.origin?.source) && i.origin?.position === p.position);
  if (!item) throw new CaptureRedriveError(`${file}: no record at ${p.position} any more`);
  if ('scope' in item) throw item.error;
  return [item];
}

/** Why a parked record failed again: its own fault (it stays parked), not an outage (which throws). */
function failsAgain(e: unknown): boolean {
  return (
    capturedDocError(e) ||
    e instanceof CaptureRedriveError ||
    e instanceof SourceParseError ||
    e instanceof ObjectLimitError
  );
}

/**
 * Append the capture's parked records again (see the header): per origin source in position order, each
 * settled (a tombstone in its place) once appended; one that fails again stays, and those after it go
 * under sources of their own.
 */
export async function redriveCapture(
  o: CaptureRunOptions,
  lot: ParkingLot,
  source: PollingSource,
): Promise<RedriveResult> {
  const result: RedriveResult = { redriven: 0, remaining: 0, failures: [] };
  const groups = parkedGroups(
    await lot.list(),
    (p) => `${p.collection}\n${p.source}`,
    (p) => p.position,
  );
  for (const list of groups) {
    let behind = false;
    for (const { key, parked } of list) {
      try {
        const docs = await capturedAgain(o, parked, source);
        let alone = parked.capture?.redriveAlone;
        const own = behind && alone === undefined;
        if (own) alone = parked.streamPosition.slice(parked.streamPosition.indexOf('.') + 1);
        const at = Date.now();
        const ready = docs.map((d, i) =>
          prepareCaptured(o, d, () => metaUuid(at, `${o.spec.name}/redrive/${parked.position}`, i), {
            alone,
          }),
        );
        if (own)
          await lot.put({
            ...parked,
            capture: { binding: parked.capture?.binding ?? 0, ...parked.capture, redriveAlone: alone },
          });
        await appendPrepared(o.journal, ready);
        await lot.settle(key);
        result.redriven++;
      } catch (e) {
        if (!failsAgain(e)) throw e;
        await lot.put({
          ...parked,
          error: describeError(e),
          parkedAt: new Date().toISOString(),
          redriveAttempts: (parked.redriveAttempts ?? 0) + 1,
        });
        result.failures.push({
          collection: parked.collection,
          shardId: parked.shardId,
          position: parked.position,
          where: whereParked(parked),
          error: describeError(e),
        });
        result.remaining++;
        behind = true;
      }
    }
  }
  return result;
}
