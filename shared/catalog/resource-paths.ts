/**
 * The resource path of a binding: what a connector names the endpoint resource by (a table, a URL path,
 * a stream), as Estuary's connectors return it from Validate. Two bindings of one task may not share a
 * path (Estuary's crates/validation: `BindingDuplicatesResource`, "bindings duplicate the endpoint
 * resource"), since both would write one table or read one stream.
 */
import { isObject, type Json } from '../json/types.ts';

/** The path of a binding's resource for Sluice's built-in connectors; undefined when it has none yet. */
export function resourcePath(
  connector: string,
  resource: Json,
  config: Json,
  collection: string,
): string[] | undefined {
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
      // The URL path the binding receives documents on; by default the collection's name.
      return [str(resource.path) ?? `/${collection}`];
    default:
      return undefined;
  }
}
