/**
 * A minimal stand-in for the materialize task (shared/materialize/task.ts drives connectors the same way):
 * open → skip positions already committed → combine by key → load → fully reduce → commit.
 * Reduction of the test collection: `qty` sums, other fields last-write-wins, `op: "del"` deletes the key.
 */
import type { JsonObject } from '../../shared/json/types.ts';
import type { MaterializeConnector, StoreDoc } from '../../shared/materialize/connector.ts';

export interface SourceDoc {
  shard: string;
  pos: string;
  doc: JsonObject;
}

export function pos(seq: number, index = 0): string {
  return `${String(seq).padStart(128, '0')}:${String(index).padStart(6, '0')}`;
}

export function reduce(lhs: JsonObject | undefined, rhs: JsonObject): JsonObject | undefined {
  if (rhs.op === 'del') return undefined;
  const { op: _op, ...rest } = rhs;
  if (!lhs) return { ...rest };
  return { ...lhs, ...rest, qty: Number(lhs.qty ?? 0) + Number(rhs.qty ?? 0) };
}

/** The oracle: every document folded in order, per key. */
export function oracle(docs: SourceDoc[]): Map<number, JsonObject> {
  const out = new Map<number, JsonObject>();
  for (const d of docs) {
    const id = d.doc.id as number;
    const r = reduce(out.get(id), d.doc);
    if (r) out.set(id, r);
    else out.delete(id);
  }
  return out;
}

export interface RunOptions {
  delta?: boolean;
  /** Called with the transaction right before commit; throw to simulate a crash before commit. */
  beforeCommit?: () => void;
}

/** Run one delivered batch through a connector (one "invocation"). Returns how many docs were new. */
export async function runBatch(
  conn: MaterializeConnector,
  batch: SourceDoc[],
  opts: RunOptions = {},
): Promise<number> {
  const { checkpoint } = await conn.open();
  const fresh = batch.filter(
    (d) => !(checkpoint[d.shard] !== undefined && d.pos <= (checkpoint[d.shard] as string)),
  );
  if (fresh.length === 0) return 0;
  const docs: StoreDoc[] = [];
  if (opts.delta) {
    // combine: qty sums, other fields last-write-wins; one delta row per key
    const deltas = new Map<number, JsonObject>();
    for (const d of fresh) {
      const { op: _op, ...rest } = d.doc;
      const base = deltas.get(rest.id as number);
      deltas.set(
        rest.id as number,
        base ? { ...base, ...rest, qty: Number(base.qty) + Number(rest.qty ?? 0) } : rest,
      );
    }
    for (const [id, doc] of deltas) docs.push({ key: [id], doc, deleted: false });
  } else {
    const changes = new Map<number, JsonObject[]>();
    for (const d of fresh) {
      const id = d.doc.id as number;
      changes.set(id, [...(changes.get(id) ?? []), d.doc]);
    }
    const loaded = await conn.load(
      0,
      [...changes.keys()].map((id) => [id]),
    );
    for (const [id, list] of changes) {
      const existing = loaded.get(JSON.stringify([id])) as JsonObject | undefined;
      let cur = existing;
      for (const d of list) cur = reduce(cur, d);
      if (cur) docs.push({ key: [id], doc: cur, deleted: false, exists: existing !== undefined });
      else docs.push({ key: [id], doc: { id }, deleted: true, exists: existing !== undefined });
    }
  }
  const checkpoint2: Record<string, string> = {};
  for (const d of fresh) {
    const prev = checkpoint2[d.shard];
    if (prev === undefined || d.pos > prev) checkpoint2[d.shard] = d.pos;
  }
  opts.beforeCommit?.();
  await conn.commit({ bindings: [{ binding: 0, docs }], checkpoint: checkpoint2 });
  return fresh.length;
}
