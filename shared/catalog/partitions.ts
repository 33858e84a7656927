/** Partition selectors (`{include: {field: [values]}, exclude: ...}`) over a collection's logical partitions. */
import { jsonEqual } from '../json/compare.ts';
import { getAt } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
import type { CollectionSpec, PartitionSelector } from './model.ts';

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
