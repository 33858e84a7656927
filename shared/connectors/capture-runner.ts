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
import { keyExtractor } from '../keys/extract.ts';
import { explicitHashKey } from '../keys/hash.ts';
import { metaUuid } from '../meta/uuid.ts';
import type { BlobStore } from '../ports/blob.ts';
import type { AppendDoc, Journal } from '../ports/journal.ts';
import { formatOrigin } from '../ports/position.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import { EndpointError } from './errors.ts';
import type { CapturedDoc, CapturedOrigin, PollingSource } from './source.ts';

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

/**
 * Append captured documents to their collections (validated; `_meta/uuid` stamped from the document's
 * origin, so the same row or line gets the same uuid whenever it is read; a document without an origin
 * gets one from `round`). Returns the count.
 */
export async function appendCaptured(
  o: CaptureRunOptions,
  docs: CapturedDoc[],
  round: string,
): Promise<number> {
  const now = o.now?.() ?? Date.now();
  const byCollection = new Map<string, AppendDoc[]>();
  docs.forEach((d, i) => {
    const binding = o.spec.bindings[d.binding];
    const collection = binding ? o.catalog.collections[binding.target] : undefined;
    if (!binding || !collection) {
      throw new EndpointError('UnknownBinding', o.spec.name, `binding ${d.binding} has no target collection`);
    }
    const meta = (d.doc._meta ?? {}) as JsonObject;
    const origin = d.origin ? capturedOrigin(o.spec.name, d.origin) : undefined;
    const uuid = d.origin
      ? metaUuid(d.origin.ms, `${o.spec.name}/${d.origin.source}`, d.origin.position)
      : metaUuid(now, `${o.spec.name}/${round}`, i);
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
    const packed = Buffer.from(keyExtractor(collection.key).packBinary(doc), 'latin1');
    const list = byCollection.get(collection.name) ?? [];
    list.push(
      origin ? { hashKey: explicitHashKey(packed), doc, origin } : { hashKey: explicitHashKey(packed), doc },
    );
    byCollection.set(collection.name, list);
  });
  for (const [collection, list] of byCollection) await o.journal.append(collection, list);
  return docs.length;
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
): Promise<{ docs: number; rounds: number }> {
  let state = await loadCaptureState(o.stateStore, o.spec.name);
  if (state === undefined && source.initialState) {
    // Saved before the very first poll, so that a crash in it re-polls from this same state (and gets the
    // same uuids, which may take their time from it), not from none.
    state = source.initialState();
    await saveCaptureState(o, state);
  }
  let docs = 0;
  let rounds = 0;
  for (;;) {
    rounds++;
    const res = await source.poll(state);
    docs += await appendCaptured(o, res.docs, `${o.now?.() ?? Date.now()}-${rounds}`);
    await o.fault?.('appended', rounds);
    await saveCaptureState(o, res.state);
    await o.fault?.('saved', rounds);
    state = res.state;
    if (!res.more || rounds >= (o.maxRounds ?? 20)) break;
    // More is waiting, but another round might not finish (append + state) before the function times
    // out: stop here with the state saved; the next scheduled poll continues from it.
    if (o.deadlineMs !== undefined && Date.now() >= o.deadlineMs) break;
  }
  return { docs, rounds };
}
