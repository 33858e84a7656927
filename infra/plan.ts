/**
 * The deployment plan: what the catalog asks for, worked out without touching CDK (pure functions over
 * the BuiltCatalog, unit-testable): which store holds each collection's fragments, which function kind
 * runs each capture, which collections each task reads and writes, retention days.
 */
import type {
  BuiltCatalog,
  CaptureSpec,
  CollectionSpec,
  MaterializationSpec,
  SourceLocation,
} from '../shared/catalog/model.ts';
import { keyAttributeName } from '../shared/connectors/fields.ts';
import { CONNECTORS, type ConnectorDefinition, connectorDefinition } from '../shared/connectors/registry.ts';
import type { Json } from '../shared/json/types.ts';
import { fragmentPlace as placeFragments } from '../shared/persist/place.ts';
import { retentionDays } from './duration.ts';
import { DeployUnsupportedError } from './errors.ts';

export function at(source: SourceLocation): string {
  return `${source.file}:${source.line}:${source.col}`;
}

/** Where a collection's fragments go: bucket (undefined: the stack's default fragments bucket) and key prefix. */
export interface FragmentPlace {
  /** Bucket name from the storage mapping; undefined for the default bucket. */
  bucket: string | undefined;
  /** Key prefix up to and including the collection name and a trailing `/`. */
  prefix: string;
  /** Expiration of fragments in days, when the collection sets `journals.fragments.retention`. */
  retentionDays?: number;
}

/**
 * Where a collection's fragments go (shared/persist/place.ts: the one placement function the handlers
 * use too), checked for deployability, with its retention.
 */
export function fragmentPlace(catalog: BuiltCatalog, collection: CollectionSpec): FragmentPlace {
  const place = placeFragments(catalog, collection.name);
  const retention = collection.journals?.fragments?.retention;
  const days =
    retention === undefined
      ? undefined
      : retentionDays(
          retention,
          `${at(collection.source)} (${collection.source.pointer}/journals/fragments/retention)`,
        );
  if (place.provider !== undefined && place.provider !== 'S3') {
    throw new DeployUnsupportedError(
      'UnsupportedStore',
      at(collection.source),
      '/storageMappings',
      catalog.storageMappings[place.mapping ?? '']?.stores[0] ?? null,
      `collection ${collection.name} is mapped to a ${place.provider} store; Sluice on AWS stores fragments in S3 only`,
    );
  }
  return { bucket: place.bucket, prefix: place.folder, retentionDays: days };
}

/**
 * The registry entry of a task's connector (shared/connectors/registry.ts): which Lambda entry runs it,
 * what triggers it, what it must be granted. A connector without one, or of the wrong kind, has no AWS
 * deployment.
 */
export function deployedConnector(
  task: CaptureSpec | MaterializationSpec,
  kind: 'capture' | 'materialization',
): ConnectorDefinition {
  const def = connectorDefinition(task.endpoint.connector);
  if (!def || def.kind !== kind) {
    const deployable = Object.values(CONNECTORS)
      .filter((c) => c.kind === kind)
      .map((c) => c.name);
    throw new DeployUnsupportedError(
      'UnsupportedConnector',
      at(task.source),
      `${task.source.pointer}/endpoint/connector/image`,
      task.endpoint.image,
      `${kind} connector ${task.endpoint.connector} has no AWS deployment (${deployable.join(', ')} do)`,
    );
  }
  return def;
}

/** Collections a capture writes (its enabled bindings' targets), sorted and unique. */
export function captureTargets(capture: CaptureSpec): string[] {
  return [...new Set(capture.bindings.filter((b) => !b.disable).map((b) => b.target))].sort();
}

/** Source collections a derivation reads (its enabled transforms), sorted and unique. */
export function derivationSources(collection: CollectionSpec): string[] {
  if (!collection.derive) return [];
  return [
    ...new Set(collection.derive.transforms.filter((t) => !t.disable).map((t) => t.source.name)),
  ].sort();
}

/** Source collections a materialization reads (its enabled bindings), sorted and unique. */
export function materializationSources(m: MaterializationSpec): string[] {
  return [...new Set(m.bindings.filter((b) => !b.disable).map((b) => b.source.name))].sort();
}

/** A string config field, when present. */
export function configString(config: Json, field: string): string | undefined {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return undefined;
  const v = config[field];
  return typeof v === 'string' ? v : undefined;
}

/** Object-store location a connector reads or writes (`source-s3`, `materialize-s3` config `{bucket, prefix}`). */
export function connectorBucket(
  config: Json,
  location: string,
  pointer: string,
): { bucket: string; prefix: string } | undefined {
  const bucket = configString(config, 'bucket');
  if (bucket === undefined) return undefined;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new DeployUnsupportedError(
      'InvalidOverride',
      location,
      `${pointer}/bucket`,
      bucket,
      'not an S3 bucket name',
    );
  }
  const prefix = configString(config, 'prefix') ?? '';
  return { bucket, prefix };
}

/** DynamoDB attribute type for a collection key location, from the collection's read schema. */
export function keyAttributeType(
  catalog: BuiltCatalog,
  collection: CollectionSpec,
  pointer: string,
): 'S' | 'N' {
  const schema = resolveSchemaAt(catalog, collection.readSchema, pointer);
  const types = schemaTypes(schema);
  return types.length > 0 && types.every((t) => t === 'integer' || t === 'number') ? 'N' : 'S';
}

/**
 * The materialized field name of a key location, as shared/connectors/materialize-dynamodb.ts names it:
 * the first projection (in catalog order) of that location, else the pointer's last token.
 */
/** As the connector names it (shared/connectors/fields.ts). */
export const keyFieldName = keyAttributeName;

function schemaTypes(schema: Json | undefined): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return [];
  const t = schema.type;
  if (typeof t === 'string') return [t];
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === 'string' && x !== 'null');
  return [];
}

function lookupUri(catalog: BuiltCatalog, uri: string): Json | undefined {
  const [doc, fragment] = uri.split('#', 2);
  let node: Json | undefined = catalog.schemas[doc];
  if (fragment) {
    for (const raw of fragment.split('/').slice(1)) {
      const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      if (node === null || typeof node !== 'object' || node === undefined) return undefined;
      node = Array.isArray(node) ? node[Number(part)] : node[part];
    }
  }
  return node;
}

/** Best-effort walk of `properties` (following `$ref` and `allOf`) to the subschema at a document pointer. */
function resolveSchemaAt(catalog: BuiltCatalog, uri: string, pointer: string): Json | undefined {
  const base = uri.split('#')[0];
  const deref = (node: Json | undefined, depth = 0): Json | undefined => {
    if (depth > 16 || node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    const ref = node.$ref;
    if (typeof ref === 'string') {
      const target = ref.startsWith('#') ? `${base}${ref}` : ref;
      return deref(lookupUri(catalog, target), depth + 1);
    }
    return node;
  };
  let node = deref(lookupUri(catalog, uri));
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || Array.isArray(node) || node === undefined)
      return undefined;
    const candidates: Json[] = [node, ...(Array.isArray(node.allOf) ? node.allOf : [])];
    let next: Json | undefined;
    for (const c of candidates) {
      const d = deref(c);
      if (d !== null && typeof d === 'object' && !Array.isArray(d)) {
        const props = d.properties;
        if (props !== null && typeof props === 'object' && !Array.isArray(props) && part in props) {
          next = props[part];
          break;
        }
      }
    }
    node = deref(next);
  }
  return node;
}
