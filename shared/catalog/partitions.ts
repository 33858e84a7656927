/** Partition selectors (`{include: {field: [values]}, exclude: ...}`) over a collection's logical partitions. */
import { jsonEqual } from '../json/compare.ts';
import { getAt } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
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

/** A source's publish-time bounds in Unix ms (`notBefore`/`notAfter`); undefined when it has none. */
export interface PublishBounds {
  notBefore?: number;
  notAfter?: number;
}

export function publishBounds(ref: SourceRef): PublishBounds | undefined {
  if (ref.notBefore === undefined && ref.notAfter === undefined) return undefined;
  const ms = (s: string | undefined) => (s === undefined ? undefined : Date.parse(s));
  return { notBefore: ms(ref.notBefore), notAfter: ms(ref.notAfter) };
}

/**
 * Whether a document published at `publishedMs` is read through the bounds (Estuary's source
 * `notBefore`/`notAfter`: documents published before `notBefore` or after `notAfter` are filtered).
 */
export function withinPublishBounds(bounds: PublishBounds | undefined, publishedMs: number): boolean {
  if (bounds === undefined) return true;
  if (bounds.notBefore !== undefined && publishedMs < bounds.notBefore) return false;
  if (bounds.notAfter !== undefined && publishedMs > bounds.notAfter) return false;
  return true;
}
