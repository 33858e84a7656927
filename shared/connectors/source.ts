/**
 * The contract between a polling capture task (functions/poll.ts, the local runner) and a polling source
 * connector (source-postgres-batch, source-s3).
 *
 * Exactly once, resumably: the task calls `poll(state)` with the state it last saved, appends every returned
 * document to its binding's collection, and only then saves `result.state`. A crash between the append and
 * the save re-reads the same rows/objects; sources give every document an origin (`CapturedOrigin`) that is
 * the same when it is read again, and the task appends it beside the document (ports/framing.ts) with a
 * `_meta/uuid` derived from it. Consumers that keep per-key state (the persister's reduced view,
 * materializations) and derivations drop a document whose origin position is not beyond the one they
 * applied for its origin source (ports/events.ts foldKey), so the replay adds nothing. When `more` is true
 * the task should poll again right away (the source stopped at its page limit) instead of waiting.
 */
import type { Json, JsonObject } from '../json/types.ts';

/**
 * Where a captured document came from. `source` (prefixed with the capture's name when appended) and
 * `position` form the document's origin `<capture>/<source>@<position>`. Dedupe skips a document when its
 * position is <= the one already applied for its source, per collection key (the persister) and per input
 * shard (derivations), so a source must make positions:
 * - equal when the same row / object line / request is read again, and
 * - increasing, as strings, in the order it emits documents of one source (later documents are new).
 */
export interface CapturedOrigin {
  source: string;
  position: string;
  /** The time (Unix ms) put in `_meta/uuid`: it must not change when the document is read again. */
  ms: number;
}

export interface CapturedDoc {
  /** Index into CaptureSpec.bindings. */
  binding: number;
  doc: JsonObject;
  /** Without an origin the document is appended as new every time it is read (at least once). */
  origin?: CapturedOrigin;
}

/**
 * What a source read but could not turn into a document: one record (a malformed line or row) or a whole
 * object (not gzip or UTF-8, over a limit). The capture halts at it, or under `park` sets it aside
 * (capture-parking.ts) and goes on. A failure to reach the source is thrown instead: that is an outage.
 */
export interface UnreadItem {
  binding: number;
  /** The object it is in (source-s3: the key). */
  file: string;
  scope: 'record' | 'object';
  /**
   * A record's origin (position: its record index), or the object's (position `object`; its source has
   * no content hash when the object was too large to read).
   */
  origin: CapturedOrigin;
  /** A record's text, kept with it when parked. */
  raw?: string;
  error: Error;
}

/** What one read of a source yields: documents, and what could not be read as documents. */
export interface CapturedBatch {
  docs: CapturedDoc[];
  unread?: UnreadItem[];
  /** The size of each object read (source-s3), by its origin source (`<bucket>/<key>#<content hash>`). */
  bytes?: Record<string, number>;
}

/** Where an object-scoped UnreadItem sits in its source. */
export const OBJECT_POSITION = 'object';

/**
 * The source of an object too large to read is `<bucket>/<key>#size:<bytes>` (no content hash without
 * the content); a redrive after the limit was raised takes the object only at that size.
 */
export const SIZE_MARK = '#size:';

export interface PollResult extends CapturedBatch {
  /** The state to save once `docs` are durably appended (JSON). */
  state: Json;
  /** More is available right now. */
  more: boolean;
}

export interface PollingSource {
  poll(state: Json | undefined): Promise<PollResult>;
  /**
   * The state to save before the very first poll, when the source's documents depend on its state (their
   * uuid times): a crash in the first poll then re-polls from it, not from none. Optional.
   */
  initialState?(): Json;
  /** Read one object again (source-s3): a redrive of what was parked from it (capture-parking.ts). */
  reread?(file: string): Promise<CapturedBatch>;
  close(): Promise<void>;
}

/** What discovery learns about a binding: its collection key and a JSON Schema of its documents. */
export interface DiscoveredBinding {
  binding: number;
  key: string[];
  schema: JsonObject;
}
