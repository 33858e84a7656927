/**
 * Origin marks of a transactional materialization (connectors with `originMarks`, materialize-postgres):
 * per source shard, the highest origin position applied for each origin source, committed in the same
 * transaction as the rows, under the checkpoint key `<collection>/<shardId>#origins`.
 *
 * Why: a transactional connector skips what its checkpoint says was applied by *stream* position. A
 * document re-published with the same origin — a derivation replayed after a crash between its append
 * and its checkpoint, a capture re-polled after a crash between its append and its cursor save — sits
 * at a new stream position and would be applied again (a sum counted twice). Within one source shard the
 * documents of one origin source arrive in origin order (each producer appends in order, routed by key),
 * so "position ≤ the mark" means "already applied", as for a derivation's origin watermarks.
 *
 * A shard born of a reshard starts from its parents' marks, and in a merge child a document between its
 * parents' marks is decided by its key's parent (ports/lineage.ts): a copy re-published into the child by
 * an upstream task replaying across the reshard is still known.
 *
 * The value is `<the batch's last stream position>|<JSON marks>`: the prefix makes it increase as a
 * string with every commit, which is all a checkpoint value must do (materialize-postgres only ever moves
 * a position forward). Marks expire like a derivation's (ports/state.ts expireMarks).
 */
import type { SourceDoc } from '../ports/events.ts';
import type { ShardInfo } from '../ports/journal.ts';
import { seenByParent } from '../ports/lineage.ts';
import { expireMarks, inheritMarks, moveMark, type OriginWatermarks } from '../ports/state.ts';

/** The batch's shard was born of a reshard: its parents, their committed marks, and documents' hash keys. */
export interface MarksInheritance {
  parents: ShardInfo[];
  /** The parents' committed marks (`parents` order); undefined: that parent committed none. */
  marks: (OriginWatermarks | undefined)[];
  /** A document's hash key, as its journal routed it. */
  hashKey: (d: SourceDoc) => string;
}

export function originMarksKey(collection: string, shardId: string): string {
  return `${collection}/${shardId}#origins`;
}

export function readOriginMarks(value: string | undefined): OriginWatermarks {
  if (!value) return { upTo: '', marks: {}, at: {} };
  const bar = value.indexOf('|');
  const { marks, at } = JSON.parse(value.slice(bar + 1)) as Pick<OriginWatermarks, 'marks' | 'at'>;
  return { upTo: value.slice(0, bar), marks, at: at ?? {} };
}

export function writeOriginMarks(w: OriginWatermarks): string {
  return `${w.upTo}|${JSON.stringify({ marks: w.marks, at: w.at })}`;
}

/**
 * The documents of a batch not yet applied by origin (all of them when none carries one), and the marks
 * after them; undefined marks when nothing changed (no checkpoint write needed). `inherit`: the shard was
 * born of a reshard (a shard without stored marks starts from its parents').
 */
export function dropReapplied(
  docs: SourceDoc[],
  stored: string | undefined,
  nowSeconds: number,
  horizonSeconds: number | undefined,
  inherit?: MarksInheritance,
): { fresh: SourceDoc[]; marks: string | undefined } {
  if (!docs.some((d) => d.hasOrigin)) return { fresh: docs, marks: undefined };
  const seeded = stored === undefined && inherit ? inheritMarks(inherit.marks) : undefined;
  const w = seeded ?? readOriginMarks(stored);
  expireMarks(w, nowSeconds, horizonSeconds);
  const fresh: SourceDoc[] = [];
  for (const d of docs) {
    if (d.hasOrigin) {
      const seen = w.marks[d.source];
      if (seen !== undefined && d.position <= seen) continue;
      if (inherit && seenByParent(inherit.parents, inherit.marks, d, () => inherit.hashKey(d))) continue;
      moveMark(w, d.source, d.position, nowSeconds);
    }
    fresh.push(d);
  }
  const last = docs[docs.length - 1].streamPosition;
  if (last > w.upTo) w.upTo = last;
  return { fresh, marks: writeOriginMarks(w) };
}
