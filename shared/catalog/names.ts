/** Naming rules of the catalog, and the mappings other parts must agree on. */
import { type ConnectorName, KNOWN_CONNECTORS } from './model.ts';

/** Catalog names: slash-separated components of letters, numbers, `-`, `_`, `.`. */
export const NAME_PATTERN = /^[\p{L}\p{N}\-_.]+(\/[\p{L}\p{N}\-_.]+)*$/u;
/** Storage mapping prefixes: zero or more name components, each followed by a slash. */
export const PREFIX_PATTERN = /^([\p{L}\p{N}\-_.]+\/)*$/u;

/** A logical partition's field: one name component (Estuary's `PartitionField`, TOKEN_RE in crates/models references.rs). */
export const PARTITION_FIELD_PATTERN = /^[\p{L}\p{N}\-_.]+$/u;
/** A projection field: JSON-pointer-like components without a leading `/` (Estuary's `Field`, FIELD_RE). */
export const FIELD_PATTERN = /^([^/~]|~[01])+(\/([^/~]|~[01])+)*$/u;

/**
 * Names as Estuary compares them for collisions (crates/models collate.rs: NFD, default case folding,
 * NFKC): `acmeCo/Orders` and `acmeco/orders` are the same name. Case folding is approximated by
 * upper- then lower-casing, which folds `ß` to `ss` as Unicode's default case folding does.
 */
export function collate(name: string): string {
  return name.normalize('NFD').toUpperCase().toLowerCase().normalize('NFKC');
}

export interface NameCollision<T> {
  /** The later name (in input order) and the earlier one it collides with. */
  name: T;
  other: T;
  /** `same`: equal once collated; `prefix`: `other` is a `/`-prefix of `name`, or `name` of `other`. */
  kind: 'same' | 'prefix';
}

/**
 * Names that collide under collation, or where one is a hierarchical prefix of another
 * (`acmeCo/orders` and `acmeCo/orders/archive`; not `acmeCo/orders` and `acmeCo/ordersX`), found as
 * Estuary's crates/validation indexed.rs `walk_duplicates` finds them: between neighbours once sorted
 * by collated name ("collides with", "is a prohibited prefix of"). Exactly equal names are left to the
 * caller (each reports them its own way).
 */
export function nameCollisions<T>(items: readonly T[], nameOf: (t: T) => string): NameCollision<T>[] {
  const sorted = items
    .map((item, index) => ({ item, index, key: collate(nameOf(item)) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index));
  const out: NameCollision<T>[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    const [later, earlier] = a.index < b.index ? [b, a] : [a, b];
    if (a.key === b.key) {
      if (nameOf(a.item) !== nameOf(b.item))
        out.push({ name: later.item, other: earlier.item, kind: 'same' });
    } else if (b.key.startsWith(`${a.key}/`)) {
      out.push({ name: later.item, other: earlier.item, kind: 'prefix' });
    }
  }
  return out;
}

/**
 * The Derivation method implementing a transform, as Estuary's TypeScript codegen names it:
 * characters that are not letters or digits are dropped, and the character after each of them is
 * upper-cased (`fromOrders` → `fromOrders`, `from-orders` → `fromOrders`).
 */
export function transformMethodName(transform: string): string {
  return camelCase(transform, false);
}

/** The generated source document type of a transform: `Source` + PascalCase (`SourceFromOrders`). */
export function transformSourceTypeName(transform: string): string {
  return `Source${camelCase(transform, true)}`;
}

function camelCase(name: string, upperFirst: boolean): string {
  let out = '';
  let upper = upperFirst;
  for (const c of name) {
    if (!/[\p{L}\p{N}]/u.test(c)) upper = true;
    else if (upper) {
      out += c.toUpperCase();
      upper = false;
    } else out += c;
  }
  return out;
}

/**
 * The built-in connector an image names: `ghcr.io/estuary/<name>:<tag>` (tag or digest optional)
 * or a bare `<name>` (optionally with a tag). Undefined when Sluice has no such connector.
 */
export function resolveConnectorImage(image: string): ConnectorName | undefined {
  const name = connectorImageName(image);
  return (KNOWN_CONNECTORS as readonly string[]).includes(name) ? (name as ConnectorName) : undefined;
}

/** `ghcr.io/estuary/source-s3:v1` → `source-s3`; other registries keep their full path. */
export function connectorImageName(image: string): string {
  const bare = image.replace(/@sha256:[0-9a-f]+$/i, '').replace(/:[\w][\w.-]*$/, '');
  return bare.startsWith('ghcr.io/estuary/') ? bare.slice('ghcr.io/estuary/'.length) : bare;
}
