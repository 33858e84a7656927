/**
 * Drives a polling source (source-postgres-batch, source-s3) for one capture: poll from the saved state,
 * validate each document against its binding's collection write schema, stamp `_meta/uuid` (derived from
 * the document's origin), append it with its origin to the collection's journal, and only then save the
 * new state. A crash between the two re-reads the same documents with the same origins, which the
 * persister and derivations drop (exactly once in effect; see source.ts). Repeats while
 * the source reports `more` (bounded by `maxRounds`). Capture state lives in a BlobStore object
 * `_sluice/captures/<capture>.json` (the fragments bucket), so the local stack and AWS behave alike.
 */

import type { BuiltCatalog, CaptureSpec } from '../catalog/model.ts';
import { valuesInErrors } from '../config/debug-values.ts';
import type { Json, JsonObject } from '../json/types.ts';
import { routerOf } from '../keys/route.ts';
import { metaUuid } from '../meta/uuid.ts';
import type { BlobStore } from '../ports/blob.ts';
import type { AppendDoc, Journal } from '../ports/journal.ts';
import { documentError, type ParkingLot, redriveSource } from '../ports/parking.ts';
import { formatOrigin } from '../ports/position.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import { type CaptureParkedInfo, heldByLot, parkCaptured } from './capture-parking.ts';
import { EndpointError } from './errors.ts';
import type { CapturedBatch, CapturedDoc, CapturedOrigin, PollingSource, UnreadItem } from './source.ts';

export interface CaptureRunOptions {
  spec: CaptureSpec;
  catalog: BuiltCatalog;
  registry: SchemaRegistry;
  journal: Journal;
  stateStore: BlobStore;
  now?: () => number;
  maxRounds?: number;
  /** No new round starts after this time (ms since epoch): the invocation's end less a margin. */
  deadlineMs?: number;
  /**
   * Fault injection (tests): called at each point of a round; a throw there is a crash at that point,
   * e.g. `appended`: the documents are in the journal, the state is not saved (a timed-out poll).
   */
  fault?: (point: 'appended' | 'saved', round: number) => void | Promise<void>;
  /** Where what cannot be appended is set aside (`park` policy, SLUICE_PARKED); undefined: the capture halts. */
  parking?: ParkingLot;
  /** Told of each record parked (the function logs it). */
  onParked?: (p: CaptureParkedInfo) => void;
}

/** Time kept back from a capture invocation's end (functions/poll.ts, s3-capture.ts): no round starts after it. */
export const POLL_SAFETY_MS = 10_000;

export function captureStateKey(capture: string): string {
  return `_sluice/captures/${capture}.json`;
}

export async function loadCaptureState(store: BlobStore, capture: string): Promise<Json | undefined> {
  const b = await store.get(captureStateKey(capture));
  return b ? (JSON.parse(new TextDecoder().decode(b)) as Json) : undefined;
}

/**
 * The origin a captured document is appended with: its source under the capture's name (so two captures
 * into one collection never share a source), and its position.
 */
export function capturedOrigin(capture: string, origin: CapturedOrigin): string {
  return formatOrigin(`${capture}/${origin.source}`, origin.position);
}

/** A captured document ready to append: stamped, validated against its collection, keyed. */
export interface PreparedDoc {
  collection: string;
  doc: AppendDoc;
}

/**
 * Stamp a captured document's `_meta/uuid` (from its origin, so the same row or line gets the same uuid
 * whenever it is read; `fallbackUuid` for a document without one), validate it against its collection's
 * write schema and key it. Throws its SchemaViolation. A redriven document (capture-parking.ts) is
 * appended under its origin source's redrive twin (ports/parking.ts redriveSource), so that consumers
 * that applied later documents of that source still apply it.
 */
export function prepareCaptured(
  o: CaptureRunOptions,
  d: CapturedDoc,
  fallbackUuid: () => string,
  redrive?: { alone?: string },
): PreparedDoc {
  const binding = o.spec.bindings[d.binding];
  const collection = binding ? o.catalog.collections[binding.target] : undefined;
  if (!binding || !collection) {
    throw new EndpointError('UnknownBinding', o.spec.name, `binding ${d.binding} has no target collection`);
  }
  const meta = (d.doc._meta ?? {}) as JsonObject;
  const source = d.origin ? `${o.spec.name}/${d.origin.source}` : undefined;
  const origin =
    source && d.origin
      ? formatOrigin(redrive ? redriveSource(source, redrive.alone) : source, d.origin.position)
      : undefined;
  const uuid = source && d.origin ? metaUuid(d.origin.ms, source, d.origin.position) : fallbackUuid();
  const doc: JsonObject = { ...d.doc, _meta: { ...meta, uuid } };
  const violations = o.registry.validator(collection.writeSchema).validate(doc);
  if (violations.length > 0) {
    throw new EndpointError(
      'SchemaViolation',
      o.spec.name,
      // Where and which rule, never the document's values (unless asked: config/debug-values.ts).
      `binding ${d.binding} → ${collection.name}: ${violations
        .slice(0, 3)
        .map((v) => `${v.instancePath || '(root)'}: ${v.message} (keyword ${v.keyword})`)
        .join('; ')}${valuesInErrors() ? ` in ${JSON.stringify(doc).slice(0, 300)}` : ''}`,
    );
  }
  const hashKey = routerOf(collection)(doc);
  return { collection: collection.name, doc: origin ? { hashKey, doc, origin } : { hashKey, doc } };
}

/** Whether a captured document's failure is its own (park-able): its schema, its key. */
export function capturedDocError(e: unknown): boolean {
  return (e instanceof EndpointError && e.code === 'SchemaViolation') || documentError(e);
}

/** Append prepared documents, one journal append per collection. */
export async function appendPrepared(journal: Journal, ready: PreparedDoc[]): Promise<void> {
  const byCollection = new Map<string, AppendDoc[]>();
  for (const r of ready) {
    const list = byCollection.get(r.collection) ?? [];
    list.push(r.doc);
    byCollection.set(r.collection, list);
  }
  for (const [collection, list] of byCollection) await journal.append(collection, list);
}

/**
 * Append what a read of the source captured to its collections (prepareCaptured). What cannot be
 * appended — a document its schema refuses, a record that did not parse, an object that could not be
 * read — halts the capture (thrown, before anything is appended), or under `park` is parked on its own
 * (capture-parking.ts) and the rest is appended. Returns how many were appended and how many newly parked.
 */
export async function appendCaptured(
  o: CaptureRunOptions,
  batch: CapturedBatch,
  round: string,
): Promise<{ docs: number; parked: number }> {
  const now = o.now?.() ?? Date.now();
  const ready: PreparedDoc[] = [];
  const setAside: { item: CapturedDoc | UnreadItem; error: unknown }[] = [];
  for (const u of batch.unread ?? []) if (!o.parking) throw u.error;
  // Under park, what the lot holds (parked, or redriven) is left to it: see capture-parking.ts.
  const held = o.parking
    ? await heldByLot(o, o.parking, [...(batch.unread ?? []), ...batch.docs], batch.bytes)
    : () => false;
  for (const u of batch.unread ?? []) if (!held(u)) setAside.push({ item: u, error: u.error });
  batch.docs.forEach((d, i) => {
    if (held(d)) return;
    try {
      ready.push(prepareCaptured(o, d, () => metaUuid(now, `${o.spec.name}/${round}`, i)));
    } catch (e) {
      if (!o.parking || !capturedDocError(e)) throw e;
      setAside.push({ item: d, error: e });
    }
  });
  // Parked before the rest is appended: a crash between the two finds them parked already.
  for (const { item, error } of setAside) if (o.parking) await parkCaptured(o, o.parking, item, error);
  await appendPrepared(o.journal, ready);
  return { docs: ready.length, parked: setAside.length };
}

async function saveCaptureState(o: CaptureRunOptions, state: Json): Promise<void> {
  await o.stateStore.put(
    captureStateKey(o.spec.name),
    Buffer.from(JSON.stringify(state)),
    'application/json',
  );
}

/** One scheduled poll (an EventBridge invocation, or one tick of the local runner). */
export async function runPollingCapture(
  source: PollingSource,
  o: CaptureRunOptions,
): Promise<{ docs: number; parked: number; rounds: number }> {
  let state = await loadCaptureState(o.stateStore, o.spec.name);
  if (state === undefined && source.initialState) {
    // Saved before the very first poll, so that a crash in it re-polls from this same state (and gets the
    // same uuids, which may take their time from it), not from none.
    state = source.initialState();
    await saveCaptureState(o, state);
  }
  let docs = 0;
  let parked = 0;
  let rounds = 0;
  for (;;) {
    rounds++;
    const res = await source.poll(state);
    const n = await appendCaptured(o, res, `${o.now?.() ?? Date.now()}-${rounds}`);
    docs += n.docs;
    parked += n.parked;
    await o.fault?.('appended', rounds);
    await saveCaptureState(o, res.state);
    await o.fault?.('saved', rounds);
    state = res.state;
    if (!res.more || rounds >= (o.maxRounds ?? 20)) break;
    // More is waiting, but another round might not finish (append + state) before the function times
    // out: stop here with the state saved; the next scheduled poll continues from it.
    if (o.deadlineMs !== undefined && Date.now() >= o.deadlineMs) break;
  }
  return { docs, parked, rounds };
}
