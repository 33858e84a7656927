/**
 * Where a collection's fragments live, as one pure function that the CDK stack (infra/plan.ts, which
 * hands it to functions in SLUICE_FRAGMENTS), the persister and the backfill all use, so they cannot
 * disagree: the longest storage-mapping prefix that the collection name starts with picks the store;
 * its `prefix` is a folder (a trailing `/` is added when missing); the collection's folder is
 * `<store prefix>/<collection>/`. No mapping: the stack's default bucket, folder `<collection>/`.
 */
import type { BuiltCatalog } from '../catalog/model.ts';
import { spillPrefix } from '../ports/state-partitions.ts';

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

/**
 * Where the persister spills reduced documents too large for a state item (adapters/dynamodb.ts): in the
 * fragments bucket, under the store's prefix but beside the collection's fragment folder, not in it — a
 * `journals.fragments.retention` lifecycle rule expires that folder, and a spilled document must live
 * as long as the item pointing at it; backfills list the folder and must not meet it either.
 * `folder` is the collection's fragment folder (`<store prefix><collection>/`).
 */
export function viewSpillFolder(folder: string, collection: string): string {
  return `${storePrefixOf(folder, collection)}${spillPrefix({ view: collection })}`;
}

/** The store's prefix of a collection's fragment folder: `flow/` of `flow/acme/events/`. */
export function storePrefixOf(folder: string, collection: string): string {
  const suffix = `${collection}/`;
  return folder.endsWith(suffix) ? folder.slice(0, folder.length - suffix.length) : folder;
}

/**
 * A collection's fragment bucket and folder at run time: as the stack says (SLUICE_FRAGMENTS, the folder
 * already ending in `<collection>/`), else from the catalog's storage mappings with the default bucket.
 */
export function fragmentsLocation(
  catalog: BuiltCatalog,
  env: { fragments: Record<string, { bucket: string; prefix: string }>; bucket: string },
  collection: string,
): { bucket: string; folder: string } {
  const given = env.fragments[collection];
  if (given) return { bucket: given.bucket, folder: given.prefix };
  const place = fragmentPlace(catalog, collection);
  return { bucket: place.bucket ?? env.bucket, folder: place.folder };
}

/**
 * Why a collection has no reduced view to read: the stack left it out (SluiceCatalogProps.views, its
 * persister writes fragments only). `sluice read` and the console add where to look instead.
 */
export function noViewReason(collection: string): string {
  return `${collection} keeps no reduced view: the stack was synthesized with views that leave it out (SluiceCatalogProps.views, -c views=…, sluice dev --views)`;
}
