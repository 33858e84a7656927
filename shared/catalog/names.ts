/** Naming rules of the catalog, and the mappings other parts must agree on. */
import { type ConnectorName, KNOWN_CONNECTORS } from './model.ts';

/** Catalog names: slash-separated components of letters, numbers, `-`, `_`, `.`. */
export const NAME_PATTERN = /^[\p{L}\p{N}\-_.]+(\/[\p{L}\p{N}\-_.]+)*$/u;
/** Storage mapping prefixes: zero or more name components, each followed by a slash. */
export const PREFIX_PATTERN = /^([\p{L}\p{N}\-_.]+\/)*$/u;

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
