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

/**
 * Where documents too large for a DynamoDB item are written (spilled) in S3, one folder per owner:
 * `_sluice/spill/view/<collection>/` in the collection's fragments bucket (the reduced view), and
 * `_sluice/spill/materialization/<name>/` in the default bucket (materialize-dynamodb's items). At the
 * bucket's root, outside the fragment folders: a fragments `retention` lifecycle rule expires the
 * fragment folder, and a spilled document must live as long as the item that points at it. infra grants
 * exactly these prefixes.
 */
export function spillPrefix(owner: { view: string } | { materialization: string }): string {
  return 'view' in owner
    ? `_sluice/spill/view/${owner.view}/`
    : `_sluice/spill/materialization/${owner.materialization}/`;
}
