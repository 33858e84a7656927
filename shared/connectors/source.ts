/**
 * The contract between a polling capture task (functions/poll.ts, the local runner) and a polling source
 * connector (source-postgres-batch, source-s3).
 *
 * At least once, resumably: the task calls `poll(state)` with the state it last saved, appends every returned
 * document to its binding's collection, and only then saves `result.state`. A crash between the append and
 * the save re-reads the same rows/objects; sources make the re-read produce the same documents (same
 * content, same `_meta` ids), so keyed reductions absorb the replay. When `more` is true the task should
 * poll again right away (the source stopped at its page limit) instead of waiting for the interval.
 */
import type { Json, JsonObject } from '../json/types.ts';

export interface CapturedDoc {
  /** Index into CaptureSpec.bindings. */
  binding: number;
  doc: JsonObject;
}

export interface PollResult {
  docs: CapturedDoc[];
  /** The state to save once `docs` are durably appended (JSON). */
  state: Json;
  /** More is available right now. */
  more: boolean;
}

export interface PollingSource {
  poll(state: Json | undefined): Promise<PollResult>;
  close(): Promise<void>;
}

/** What discovery learns about a binding: its collection key and a JSON Schema of its documents. */
export interface DiscoveredBinding {
  binding: number;
  key: string[];
  schema: JsonObject;
}
