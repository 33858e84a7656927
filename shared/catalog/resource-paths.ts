/**
 * The resource path of a binding: what a connector names the endpoint resource by (a table, a URL path,
 * a stream), as Estuary's connectors return it from Validate. Two bindings of one task may not share a
 * path (Estuary's crates/validation: `BindingDuplicatesResource`, "bindings duplicate the endpoint
 * resource"), since both would write one table or read one stream.
 */
import { isObject, type Json } from '../json/types.ts';

/** The path of a binding's resource for Sluice's built-in connectors; undefined when it has none yet. */
export function resourcePath(connector: string, resource: Json, config: Json): string[] | undefined {
  if (!isObject(resource)) return undefined;
  const str = (v: Json | undefined) => (typeof v === 'string' && v !== '' ? v : undefined);
  const one = (v: Json | undefined) => (str(v) === undefined ? undefined : [str(v)!]);
  switch (connector) {
    case 'materialize-dynamodb':
      return one(resource.table);
    case 'materialize-postgres': {
      const table = str(resource.table);
      const schema = str(resource.schema) ?? (isObject(config) ? str(config.schema) : undefined) ?? 'public';
      return table === undefined ? undefined : [schema, table];
    }
    case 'materialize-s3':
      return one(resource.path);
    case 'materialize-webhook':
      return one(resource.relativePath);
    case 'source-s3':
      return one(resource.stream);
    case 'source-postgres-batch':
      return one(resource.name);
    case 'source-http-ingest':
      // The URL path the binding receives documents on: two bindings on one path would both be served
      // by the first.
      return [ingestUrlPath(resource)];
    default:
      return undefined;
  }
}

/**
 * The URL path an HTTP-ingest binding receives documents on (below its capture's own prefix): its
 * resource `path` with one leading slash, else `/webhook-data` (the default path of Estuary's
 * connector). Estuary's connector strips a leading slash before it matches a request, so `readings` and
 * `/readings` name the same path; both are accepted and mean `/readings`.
 */
export function ingestUrlPath(resource: Json): string {
  const path = isObject(resource) ? resource.path : undefined;
  if (typeof path !== 'string' || path === '') return '/webhook-data';
  return path.startsWith('/') ? path : `/${path}`;
}
