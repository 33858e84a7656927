/**
 * Captures under `park` (SluiceCatalogProps.onFailure, label `capture:<name>`): what a polling or S3 capture
 * read but cannot append — a document its collection's write schema refuses, a record that does not parse,
 * an object that cannot be read as documents at all (over a limit, not gzip or UTF-8) — is written with its
 * error to the capture's parking place (ports/parking.ts), and everything else is appended. Under `halt`
 * (the default) the capture stops at the first of them instead: a poll fails and keeps its state, an S3
 * event fails and EventBridge retries it, then dead-letters it.
 *
 * A parked record is named by its origin (`<collection>/src-<hash of its origin source>/<position>.json`),
 * so reading the same record again (a re-poll after a crash, a redelivered event) overwrites it.
 *
 * `sluice redrive capture:<name>` appends parked records again, exactly once, although later records of
 * their source were appended long before (a consumer that applied line 7 of an object drops line 5 of it
 * as already seen): each is appended at its own position under the source `<source>#redrive`, which
 * consumers bookkeep as a source of its own, per source in position order. A record that fails again is
 * parked again with its new error and the count of attempts; the records after it in its source do not
 * wait for it (a malformed line may never parse): each goes under a source of its own,
 * `<source>#redrive:<position>`, so that the one left behind can still follow under `<source>#redrive`.
 * That choice is written into the parked record before the append, so that a redrive after a crash
 * between append and removal uses the same source, and its documents are dropped as seen.
 * What did not parse is read again from the bucket, as the capture read it: a record only while its
 * object still has the content it was parked from (the same hash: an object overwritten since is a new
 * source, read as such); a whole object as a fresh read of it would be.
 */
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.ts';
import type { JsonObject } from '../json/types.ts';
import { metaUuid } from '../meta/uuid.ts';
import { describeError, type ParkedDoc, type ParkingLot, type RedriveResult } from '../ports/parking.ts';
import {
  appendPrepared,
  type CaptureRunOptions,
  capturedDocError,
  prepareCaptured,
} from './capture-runner.ts';
import { ObjectLimitError, SourceParseError } from './errors.ts';
import { type CapturedDoc, type PollingSource, SIZE_MARK, type UnreadItem } from './source.ts';

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
const PLAIN_POSITION = /^[0-9A-Za-z._:-]{1,200}$/;

/**
 * Park what a capture read but cannot append; returns the parked object's key, or undefined when it is
 * parked already (read again by a poll or a redelivered event: kept as it is, its failed redrives
 * included, and not counted twice).
 */
export async function parkCaptured(
  o: CaptureRunOptions,
  lot: ParkingLot,
  item: CapturedDoc | UnreadItem,
  error: unknown,
): Promise<string | undefined> {
  const unread = 'scope' in item ? item : undefined;
  const collection = o.spec.bindings[item.binding]?.target ?? `binding-${item.binding}`;
  const origin = item.origin;
  // The source it is appended under (capture-runner.ts prepareCaptured) names its group; a document
  // without an origin (a table without a primary key) is named by its content.
  const source = origin ? `${o.spec.name}/${origin.source}` : `${o.spec.name}/binding-${item.binding}`;
  const position =
    origin?.position ?? `doc-${hash16(JSON.stringify(unread ? unread.raw : (item as CapturedDoc).doc))}`;
  const p: ParkedDoc = {
    task: lot.task,
    collection,
    shardId: `src-${hash16(source)}`,
    sequenceNumber: '0',
    index: 0,
    streamPosition: PLAIN_POSITION.test(position) ? position : `h-${hash16(position)}`,
    source,
    position,
    hasOrigin: origin !== undefined,
    arrivalMs: origin?.ms ?? 0,
    doc: unread ? (unread.raw ?? null) : (item as CapturedDoc).doc,
    error: describeError(error),
    parkedAt: new Date().toISOString(),
    capture: { binding: item.binding, ...(unread ? { file: unread.file, unread: unread.scope } : {}) },
  };
  if (await lot.has(p)) return undefined;
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
      batch.bytes?.[file] === Number(wanted.slice(size + SIZE_MARK.length)));
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
 * removed once appended; one that fails again stays, and those after it go under sources of their own.
 */
export async function redriveCapture(
  o: CaptureRunOptions,
  lot: ParkingLot,
  source: PollingSource,
): Promise<RedriveResult> {
  const result: RedriveResult = { redriven: 0, remaining: 0, failures: [] };
  const groups = new Map<string, { key: string; parked: ParkedDoc }[]>();
  for (const e of await lot.list()) {
    const g = `${e.parked.collection}\n${e.parked.shardId}`;
    groups.set(g, [...(groups.get(g) ?? []), e]);
  }
  for (const list of groups.values()) {
    list.sort((a, b) =>
      a.parked.position < b.parked.position ? -1 : a.parked.position > b.parked.position ? 1 : 0,
    );
    let behind = false;
    for (const { key, parked } of list) {
      try {
        const docs = await capturedAgain(o, parked, source);
        let alone = parked.capture?.redriveAlone;
        const own = behind && alone === undefined;
        if (own) alone = parked.streamPosition;
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
        await lot.remove(key);
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
          error: describeError(e),
        });
        result.remaining++;
        behind = true;
      }
    }
  }
  return result;
}
