/** Partition selectors (`{include: {field: [values]}, exclude: ...}`) over a collection's logical partitions. */
import { jsonEqual } from '../json/compare.ts';
import { getAt } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
import { publishedAt } from '../meta/uuid.ts';
import type { CollectionSpec, PartitionSelector, SourceRef } from './model.ts';

/**
 * Whether a document's partition fields pass a selector: every `include` field's value is one of
 * the listed values, and no `exclude` field's value is. A field is a projection of the collection
 * (the loader checks that it is a partition projection).
 */
export function matchesPartitions(spec: CollectionSpec, sel: PartitionSelector, doc: Json): boolean {
  const fieldValue = (field: string): Json | undefined => {
    const p = spec.projections[field];
    return getAt(doc, p ? p.location : `/${field}`);
  };
  for (const [field, values] of Object.entries(sel.include ?? {})) {
    const v = fieldValue(field);
    if (v === undefined || !values.some((x) => jsonEqual(x, v))) return false;
  }
  for (const [field, values] of Object.entries(sel.exclude ?? {})) {
    const v = fieldValue(field);
    if (v !== undefined && values.some((x) => jsonEqual(x, v))) return false;
  }
  return true;
}

/** A source's publish-time bounds in Unix ms (`notBefore`/`notAfter`). */
interface PublishBounds {
  notBefore?: number;
  notAfter?: number;
}

/**
 * What a source (a derivation's transform, a materialization's binding) reads of its collection: the
 * documents its partition selector takes, published within its `notBefore`/`notAfter` (Estuary's
 * source bounds; the publish time is the one a document's `_meta/uuid` carries, else `fallbackMs`).
 * Undefined when it reads every document. Made once per source, so that the bounds are parsed once.
 */
export function sourceFilter(
  spec: CollectionSpec,
  ref: SourceRef,
): ((doc: Json, fallbackMs: number) => boolean) | undefined {
  const sel = ref.partitions;
  const bounds = publishBounds(ref);
  if (!sel && !bounds) return undefined;
  return (doc, fallbackMs) =>
    (!sel || matchesPartitions(spec, sel, doc)) &&
    (!bounds || withinPublishBounds(bounds, publishedAt(doc) ?? fallbackMs));
}

function publishBounds(ref: SourceRef): PublishBounds | undefined {
  if (ref.notBefore === undefined && ref.notAfter === undefined) return undefined;
  const ms = (s: string | undefined) => (s === undefined ? undefined : Date.parse(s));
  return { notBefore: ms(ref.notBefore), notAfter: ms(ref.notAfter) };
}

/** Whether a document published at `publishedMs` is inside the bounds (before `notBefore` or after `notAfter`: not). */
function withinPublishBounds(bounds: PublishBounds, publishedMs: number): boolean {
  if (bounds.notBefore !== undefined && publishedMs < bounds.notBefore) return false;
  if (bounds.notAfter !== undefined && publishedMs > bounds.notAfter) return false;
  return true;
}
