/**
 * The shard a document is routed to, as every writer of a collection's journal and every reader that
 * re-derives where a document was routed (reshard lineage) must agree on it: the `ExplicitHashKey` of
 * its packed routing key (catalog/routing.ts: the collection key, or the part of it that keeps a
 * shuffle key's documents on one shard).
 */

import type { CollectionSpec } from '../catalog/model.ts';
import { routingKeyOf } from '../catalog/routing.ts';
import type { Json } from '../json/types.ts';
import { keyExtractor } from './extract.ts';
import { explicitHashKey } from './hash.ts';

/** A document's `ExplicitHashKey` in the journal of `collection`. */
export type Router = (doc: Json) => string;

export function routerOf(collection: CollectionSpec): Router {
  const extractor = keyExtractor(routingKeyOf(collection));
  return (doc) => explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1'));
}
