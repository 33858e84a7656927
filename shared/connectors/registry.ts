/**
 * One entry per built-in connector: everything the catalog loader, the CDK construct and the Lambda
 * entries must agree on about it — its kind, the Lambda entry that runs it, what invokes it once
 * deployed, its config and resource schemas (config.ts; `sluice check` validates catalogs against them,
 * the connector again at run time), and the AWS access its role needs beyond its collections' streams
 * (infra/sluice-catalog.ts turns each grant into policy statements). Adding a connector is adding an
 * entry here and its implementation beside it.
 */
import { type ConnectorName, KNOWN_CONNECTORS } from '../catalog/model.ts';
import { CONNECTOR_SCHEMAS } from './config.ts';

/** The Lambda entry (functions/<entry>.ts) that runs a connector's task. */
export type ConnectorEntry = 'ingest' | 'poll' | 's3-capture' | 'materialize';

/** What invokes a connector's function once deployed. */
export type ConnectorTrigger =
  /** A Function URL (AWS_IAM auth). */
  | 'function-url'
  /** An EventBridge schedule at the capture's `interval` (default 5 minutes). */
  | 'schedule'
  /** A schedule only when the capture sets `interval`. */
  | 'schedule-if-interval'
  /** EventBridge "Object Created" events under the configured bucket and prefix. */
  | 's3-object-created'
  /** Kinesis event-source mappings on the bound collections' streams. */
  | 'kinesis';

/** AWS access a connector's role needs beyond reading and writing its collections. */
export type ConnectorGrant =
  /** Its cursor/state object `_sluice/captures/<capture>.json` in the default bucket (Get/Put, exact key). */
  | 'capture-state'
  /** As `capture-state`, only when the capture polls (`interval` set). */
  | 'capture-state-if-interval'
  /** GetObject under the config's `bucket`/`prefix`, and ListBucket of that prefix. */
  | 'config-objects-read'
  /** PutObject under the config's `bucket`/`prefix`. */
  | 'config-objects-write'
  /** GetObject of its own checkpoint object under the config's prefix (and a ListBucket of exactly it). */
  | 'config-checkpoint-read'
  /** Read-write on the DynamoDB tables its bindings name (`resource.table`), created by the stack. */
  | 'binding-tables'
  /**
   * Its own partition of Sluice's state table (`c#materialization:<name>`: checkpoints, and
   * materialize-dynamodb's tombstones).
   */
  | 'state-checkpoints'
  /**
   * Get/Put under `_sluice/spill/materialization/<name>/` in the default bucket: the documents of items
   * too large for DynamoDB (shared/ports/state-partitions.ts spillPrefix).
   */
  | 'spill-objects';

export interface ConnectorDefinition {
  name: ConnectorName;
  kind: 'capture' | 'materialization';
  entry: ConnectorEntry;
  triggers: readonly ConnectorTrigger[];
  grants: readonly ConnectorGrant[];
  /** At most this many concurrent invocations (a polling cursor advances one invocation at a time). */
  reservedConcurrency?: number;
  /**
   * It connects to a network endpoint of the user's (a database), which may be reachable only inside a
   * VPC: with `SluiceCatalogProps.vpc` its function runs in that VPC.
   */
  inVpc?: boolean;
}

export const CONNECTORS: Record<ConnectorName, ConnectorDefinition> = {
  'source-http-ingest': {
    name: 'source-http-ingest',
    kind: 'capture',
    entry: 'ingest',
    triggers: ['function-url'],
    grants: [],
  },
  'source-postgres-batch': {
    name: 'source-postgres-batch',
    kind: 'capture',
    entry: 'poll',
    triggers: ['schedule'],
    grants: ['capture-state'],
    reservedConcurrency: 1,
    inVpc: true,
  },
  'source-s3': {
    name: 'source-s3',
    kind: 'capture',
    entry: 's3-capture',
    triggers: ['s3-object-created', 'schedule-if-interval'],
    grants: ['config-objects-read', 'capture-state-if-interval'],
  },
  'materialize-dynamodb': {
    name: 'materialize-dynamodb',
    kind: 'materialization',
    entry: 'materialize',
    triggers: ['kinesis'],
    grants: ['binding-tables', 'state-checkpoints', 'spill-objects'],
  },
  'materialize-postgres': {
    name: 'materialize-postgres',
    kind: 'materialization',
    entry: 'materialize',
    triggers: ['kinesis'],
    grants: [],
    inVpc: true,
  },
  'materialize-s3': {
    name: 'materialize-s3',
    kind: 'materialization',
    entry: 'materialize',
    triggers: ['kinesis'],
    grants: ['config-objects-write', 'config-checkpoint-read'],
  },
  'materialize-webhook': {
    name: 'materialize-webhook',
    kind: 'materialization',
    entry: 'materialize',
    triggers: ['kinesis'],
    grants: ['state-checkpoints'],
  },
};

/** The definition of a built-in connector by name; undefined for anything else. */
export function connectorDefinition(name: string): ConnectorDefinition | undefined {
  return (KNOWN_CONNECTORS as readonly string[]).includes(name)
    ? CONNECTORS[name as ConnectorName]
    : undefined;
}

/** Config and resource schemas of a connector (config.ts), when it has them. */
export function connectorSchemas(name: string) {
  return name in CONNECTOR_SCHEMAS ? CONNECTOR_SCHEMAS[name as keyof typeof CONNECTOR_SCHEMAS] : undefined;
}
