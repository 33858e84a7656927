/**
 * Partition keys (`p`) of the state table, the one place they are spelled: the adapters write them and
 * infra/sluice-catalog.ts grants them (`dynamodb:LeadingKeys`), so a change here changes both.
 *
 * - `s#<collection>`: the collection's reduced view. Written only by that collection's persister.
 * - `c#<kind>:<name>`: one task's own checkpoints, watermarks and tombstones. The task kind is part of
 *   the partition so that tasks of different kinds that share a name (a derivation and the persister of
 *   the same collection, a capture and a materialization) can never reach each other's items.
 *
 * Changing these prefixes changes stored keys; state written under older prefixes is not read.
 */

/** The kinds of task that keep items of their own in the state table. */
export type StateTaskKind = 'derivation' | 'materialization';

/** The reduced view of a collection. */
export function viewPartition(collection: string): string {
  return `s#${collection}`;
}

/** The task id the StateStore's checkpoint and watermark calls take: `<kind>:<name>`. */
export function stateTaskId(kind: StateTaskKind, name: string): string {
  return `${kind}:${name}`;
}

/** The partition of a task's own items, from its task id ({@link stateTaskId}). */
export function taskPartition(taskId: string): string {
  return `c#${taskId}`;
}
