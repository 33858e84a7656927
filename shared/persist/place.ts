/**
 * Where a collection's fragments live, as one pure function that the CDK stack (infra/plan.ts, which
 * hands it to functions in SLUICE_FRAGMENTS), the persister and the backfill all use, so they cannot
 * disagree: the longest storage-mapping prefix that the collection name starts with picks the store;
 * its `prefix` is a folder (a trailing `/` is added when missing); the collection's folder is
 * `<store prefix>/<collection>/`. No mapping: the stack's default bucket, folder `<collection>/`.
 */
import type { BuiltCatalog } from '../catalog/model.ts';

export interface FragmentPlace {
  /** Bucket of the mapped S3 store; undefined: the stack's default fragments bucket. */
  bucket: string | undefined;
  /** The collection's folder: `<store prefix>/<collection>/` (always ends with `/`). */
  folder: string;
  /** The provider of the mapped store (only S3 is deployable). */
  provider?: string;
  /** The storage mapping that matched, if any. */
  mapping?: string;
}

export function fragmentPlace(catalog: BuiltCatalog, collection: string): FragmentPlace {
  let best: { key: string; len: number } | undefined;
  for (const [key, m] of Object.entries(catalog.storageMappings)) {
    const p = m.prefix || key;
    if (collection.startsWith(p) && (!best || p.length > best.len)) best = { key, len: p.length };
  }
  const store = best ? catalog.storageMappings[best.key].stores[0] : undefined;
  if (!best || !store) return { bucket: undefined, folder: `${collection}/` };
  const raw = store.prefix ?? '';
  const storePrefix = raw === '' || raw.endsWith('/') ? raw : `${raw}/`;
  return {
    bucket: store.bucket,
    folder: `${storePrefix}${collection}/`,
    provider: store.provider,
    mapping: best.key,
  };
}
