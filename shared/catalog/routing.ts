/**
 * Which locations of a collection's documents route them to the shards of its journal.
 *
 * Estuary processes a derivation's source documents in the order they were published, per shuffle key
 * (docs: concepts/derivations "Processing order"): its runtime reads every journal of the source and
 * merges them by publish time. Here each shard of a Kinesis stream is read by its own event-source
 * mapping, so the only order there is is a shard's. A collection's documents are routed by the hash of
 * their key, which keeps each key in order (what reductions, persisters and materializations need), but
 * a derivation that shuffles on a coarser key (readings keyed `[/device, /ts]`, shuffled on `[/device]`)
 * would see one device's readings spread over every shard, and derive them in whatever order the shards
 * happen to be read: a `lastWriteWins` output or a SQLite table of each device's previous reading would
 * then depend on timing, and differ from `sluice test`.
 *
 * So a collection is routed by the locations of its key that the shuffle keys reading it share: all
 * documents with one value of such a shuffle key then share a shard and keep their publish order, and so
 * does each collection key (the routing key is part of it). When a shuffle key shares no location with
 * the key (events keyed by id, shuffled by user), keeping its order would put every document on one
 * shard. That is done for a stateful derivation, whose state is the running result of what it read in
 * order (it runs one invocation at a time anyway), with a warning at `sluice check`; a stateless one keeps
 * the collection's routing and is derived in publish order per shard, which changes nothing where its
 * outputs reduce by commutative strategies (sum, minimize, maximize, set, merge of those), as in the
 * usual aggregation. `shuffle: any` asks for no order.
 */
import type { BuiltCatalog, CollectionSpec } from './model.ts';

/** The locations a collection's documents are routed by: a subset of its key, in key order. */
export function routingKeyOf(collection: CollectionSpec): string[] {
  return collection.routingKey ?? collection.key;
}

/** A collection routed by less than its key, and the transforms that narrowed it. */
export interface NarrowedRouting {
  collection: string;
  routingKey: string[];
  readers: { derivation: string; transform: number; shuffle: string[]; stateful: boolean }[];
}

/**
 * Set `routingKey` on every collection whose order a shuffle key reading it needs and its key does not
 * give (left unset otherwise, so most catalogs route as before); returns what was narrowed. Needs
 * `derive.stateful` (set once modules are inspected).
 */
export function narrowRoutingKeys(catalog: BuiltCatalog): NarrowedRouting[] {
  const narrowed: NarrowedRouting[] = [];
  for (const collection of Object.values(catalog.collections)) {
    const candidates: NarrowedRouting['readers'] = [];
    for (const derived of Object.values(catalog.collections)) {
      derived.derive?.transforms.forEach((t, i) => {
        if (t.disable || t.source.name !== collection.name || t.shuffle === 'any') return;
        const shuffle = t.shuffle.key;
        if (collection.key.every((p) => shuffle.includes(p))) return;
        candidates.push({
          derivation: derived.name,
          transform: i,
          shuffle,
          stateful: !!derived.derive?.stateful,
        });
      });
    }
    // Stateful readers first: their order is kept whatever it costs; a stateless one's only while the
    // routing keeps a location (else it would cost the collection every shard but one).
    candidates.sort((a, b) => Number(b.stateful) - Number(a.stateful));
    let routing = collection.key;
    const readers: NarrowedRouting['readers'] = [];
    for (const r of candidates) {
      const next = routing.filter((p) => r.shuffle.includes(p));
      if (next.length === 0 && !r.stateful) continue;
      routing = next;
      readers.push(r);
    }
    if (readers.length === 0) {
      delete collection.routingKey;
      continue;
    }
    collection.routingKey = routing;
    narrowed.push({ collection: collection.name, routingKey: routing, readers });
  }
  return narrowed;
}
