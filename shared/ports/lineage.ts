/**
 * Origin marks across a reshard of an input stream. Tasks that drop re-published copies by origin keep
 * their marks per input shard (a derivation's watermarks, shared/derive/task.ts; a transactional
 * materialization's origin marks, shared/materialize/origin-marks.ts). A shard born of a split or merge
 * is new: with empty marks, the copies an upstream task re-publishes into it while it replays across the
 * reshard (a crash between its append and its checkpoint) would be applied once more. So a child starts
 * from its parents' marks (state.ts inheritMarks), and in a merge child a document between its two
 * parents' marks is decided by its key's parent (`seenByParent`).
 */
import type { Journal, ShardInfo } from './journal.ts';
import { inheritMarks, type OriginWatermarks } from './state.ts';

/** A task's stored marks of one shard of a collection (undefined: none stored). */
export type MarksOf = (
  shardId: string,
) => Promise<OriginWatermarks | undefined> | OriginWatermarks | undefined;

/** Reshards followed back through shards without marks of their own (a bound on a corrupt lineage). */
const MAX_GENERATIONS = 16;

/** Shards' parents and hash ranges, from the journal's shard list (Kinesis ListShards). */
export class ShardLineage {
  /** By collection: listed once, and again for a shard not in the list (a reshard since). */
  private readonly lists = new Map<string, ShardInfo[]>();

  constructor(private readonly journal: Pick<Journal, 'listShards'>) {}

  /** The parents of a shard: a split's one, a merge's two, none for a shard the stream began with. */
  async parentsOf(collection: string, shardId: string): Promise<ShardInfo[]> {
    let list = this.lists.get(collection);
    if (!list?.some((x) => x.shardId === shardId)) {
      list = await this.journal.listShards(collection);
      this.lists.set(collection, list);
    }
    const info = list.find((x) => x.shardId === shardId);
    const ids = [info?.parentShardId, info?.adjacentParentShardId];
    return list.filter((x) => ids.includes(x.shardId));
  }

  /**
   * A shard's marks: its own, or, when it has none stored (it processed nothing with an origin: say a
   * child split again before it took a record), what it inherits from its parents, and so on up.
   */
  async marksOf(
    collection: string,
    shardId: string,
    stored: MarksOf,
    generation = 0,
  ): Promise<OriginWatermarks | undefined> {
    const own = await stored(shardId);
    if (own || generation >= MAX_GENERATIONS) return own;
    return this.inherited(collection, shardId, stored, generation + 1);
  }

  /** What a shard without marks of its own starts from: its parents' (state.ts inheritMarks). */
  async inherited(
    collection: string,
    shardId: string,
    stored: MarksOf,
    generation = 0,
  ): Promise<OriginWatermarks | undefined> {
    const parents = await this.parentsOf(collection, shardId);
    if (parents.length === 0) return undefined;
    return inheritMarks(
      await Promise.all(parents.map((p) => this.marksOf(collection, p.shardId, stored, generation))),
    );
  }
}

/**
 * Whether a document of a merge child, beyond the child's own marks, is a copy one of its parents
 * already processed: the parent whose hash range holds its key (`hashKey`, computed only when the
 * document is not beyond both parents' marks) had processed its origin. Every document of a source whose
 * key is in a parent's range, up to that parent's mark, landed in that parent (state.ts inheritMarks
 * says why), so this takes nothing new for a copy. `marks` are the parents' (in `parents` order).
 */
export function seenByParent(
  parents: ShardInfo[],
  marks: (OriginWatermarks | undefined)[],
  d: { source: string; position: string },
  hashKey: () => string,
): boolean {
  if (parents.length < 2) return false;
  if (!marks.some((m) => m?.marks[d.source] !== undefined && d.position <= m.marks[d.source])) return false;
  const h = BigInt(hashKey());
  const i = parents.findIndex((p) => h >= BigInt(p.startingHashKey) && h <= BigInt(p.endingHashKey));
  const seen = i < 0 ? undefined : marks[i]?.marks[d.source];
  return seen !== undefined && d.position <= seen;
}
