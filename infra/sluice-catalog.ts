/**
 * `SluiceCatalog`: a catalog (flow.yaml) becomes streams, tables, buckets, functions, schedules, a
 * dashboard and alarms, in any CDK stack:
 *
 * ```ts
 * new SluiceCatalog(this, 'Flow', { catalog: 'flow.yaml' });            // path: loaded synchronously
 * new SluiceCatalog(this, 'Flow', { catalog: builtCatalog });           // or an already built catalog
 * ```
 *
 * Construct ids below this construct derive from catalog names only (infra/names.ts), so an unchanged
 * catalog keeps every logical id, and adding an entity never renames another (which would replace its
 * stream or table).
 *
 * Runtime contract with the handlers (shared/config/env.ts): SLUICE_CATALOG, SLUICE_TASK,
 * SLUICE_PREFIX (stream names follow from it: streamNameFor), SLUICE_STATE_TABLE, SLUICE_BUCKET; a
 * persister also SLUICE_STREAMS and SLUICE_FRAGMENTS of its own collection (every function lists its
 * streams in SLUICE_STREAMS when the stack name is a token); derivations SLUICE_DERIVATION_MODULE.
 * Each collection's persister deploys as a nested stack of its own, so the parent holds two resources
 * per collection (stream, nested stack) and a catalog of hundreds of collections fits in one.
 */
import { createHash } from 'node:crypto';
import {
  Annotations,
  CfnOutput,
  Duration,
  Names,
  NestedStack,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type BuiltCatalog,
  type CaptureSpec,
  type CollectionSpec,
  type MaterializationSpec,
  type ShardSettings,
  shardSettings,
  typescriptOf,
} from '../shared/catalog/model.ts';
import { type TaskRef, taskCatalog } from '../shared/catalog/task-catalog.ts';
import { streamNameFor } from '../shared/config/env.ts';
import { captureStateKey } from '../shared/connectors/capture-runner.ts';
import { checkpointFolderOf, s3Folder } from '../shared/connectors/materialize-s3.ts';
import {
  type ConnectorDefinition,
  type ConnectorGrant,
  connectorDefinition,
} from '../shared/connectors/registry.ts';
import { isObject } from '../shared/json/types.ts';
import { storePrefixOf, viewSpillFolder } from '../shared/persist/place.ts';
import { parkedPrefix } from '../shared/ports/parking.ts';
import { spillPrefix, stateTaskId, taskPartition, viewPartition } from '../shared/ports/state-partitions.ts';
import type { FunctionKind } from './bundling.ts';
import { DeployUnsupportedError } from './errors.ts';
import { DEFAULT_EVENT_SOURCE, type EventSourceSettings, RETRY_FOREVER } from './event-source.ts';
import {
  DERIVATION_MODULE_FILE,
  LAMBDA_TASK_ROOT,
  SluiceFunction,
  type SluiceFunctionProps,
} from './function.ts';
import { loadCatalogSync } from './load-sync.ts';
import { type MonitoredTask, SluiceMonitoring } from './monitoring.ts';
import { namePatterns } from './name-patterns.ts';
import { constructIdFor, taskLabel } from './names.ts';
import {
  at,
  captureTargets,
  connectorBucket,
  deployedConnector,
  derivationSources,
  type FragmentPlace,
  fragmentPlace,
  keyAttributeType,
  keyFieldName,
  materializationSources,
} from './plan.ts';
import { parameterArn, scanSecrets, secretArn } from './secrets.ts';
import { stackBudget } from './stack-budget.ts';

export { DEFAULT_EVENT_SOURCE, type EventSourceSettings, type FailurePolicy } from './event-source.ts';

/** Stream settings a catalog cannot express; keyed by collection name. */
export interface StreamOverride {
  /** Provisioned shards; unset: on-demand capacity. */
  shards?: number;
  /** Retention of the stream in hours (24..8760); default 24. */
  retentionHours?: number;
}

/** A stream task's failure policy (SluiceCatalogProps.onFailure). */
export type OnFailure = 'halt' | 'park';

export interface SluiceCatalogProps {
  /** Path of the catalog (loaded synchronously, in a child process) or an already built catalog. */
  catalog: string | BuiltCatalog;
  /** Per collection: provisioned shards, stream retention. Unknown collection names are an error. */
  streams?: Record<string, StreamOverride>;
  /** Create the storage-mapping buckets (default), or import existing ones by name. */
  buckets?: 'create' | 'import';
  /**
   * Event-source mapping settings for every stream consumer (infra/event-source.ts). The default failure
   * policy halts at a failing document until it is fixed (`onFailure: 'park'` sets that one document aside
   * instead); nothing skips documents.
   */
  eventSource?: Partial<EventSourceSettings>;
  /**
   * What a stream task (persister, derivation, materialization) does with a document it cannot process
   * (shared/ports/parking.ts), and a capture that reads a source (S3, PostgreSQL) with what it cannot
   * append (shared/connectors/capture-parking.ts): `halt` (default) stops at that document until the
   * cause is fixed; `park` writes that one document with its error under `_sluice/parked/<task label>/`
   * in the default bucket and goes on, for `sluice redrive`. One policy for every such task, or per task
   * label (`{'derivation:acmeCo/totals': 'park'}`; unlisted tasks halt). Context: `-c onFailure=park`.
   */
  onFailure?: OnFailure | Record<string, OnFailure>;
  /**
   * Which collections keep a reduced view: the fully reduced document per key in the state table,
   * what `sluice read` and the console's collection page browse by key. `all` (default), `none`, or
   * collection names. A view costs one DynamoDB write per key per persister batch: for a collection
   * keyed per event (an event log) that is a write per document, more than everything else its
   * documents cost; leave such collections out. Fragments in S3 (every document) are written either
   * way, and derivations and materializations never read a view. Context: `-c views=none` or
   * `-c views='["acme/totals"]'`.
   */
  views?: 'all' | 'none' | string[];
  /** CloudWatch namespace of the task metrics (POWERTOOLS_METRICS_NAMESPACE). Default `Sluice`. */
  metricsNamespace?: string;
  /** Alarm and OK notifications go here when given. */
  alarmTopic?: sns.ITopic;
  /** Principals allowed to call the HTTP ingest Function URLs (AWS_IAM auth, SigV4-signed requests). */
  ingestInvokers?: iam.IPrincipal[];
  /** Lambda log retention. Default one month. */
  logRetention?: logs.RetentionDays;
  /** Memory (MB) of stream-processing functions. Default 1024 (ingest 512). */
  memorySize?: number;
  /**
   * A VPC for the functions of connectors that reach a database of yours (source-postgres-batch,
   * materialize-postgres), so it need not be public. The stack then adds the VPC endpoints those
   * functions need: gateway endpoints for S3 and DynamoDB, interface endpoints for Kinesis and, when a
   * config references them, Secrets Manager and SSM. @default no VPC
   */
  vpc?: ec2.IVpc;
  /** Subnets of `vpc` for those functions. @default the VPC's private subnets with egress */
  vpcSubnets?: ec2.SubnetSelection;
  /** Security groups of those functions. @default one per function, all outbound allowed */
  securityGroups?: ec2.ISecurityGroup[];
  /**
   * The salt of `redact: {strategy: sha256}` for the whole catalog, as a secret reference
   * (`secretsmanager:<id>[#key]` or `ssm:<name>`): given to captures and derivations (where documents
   * enter collections) as SLUICE_REDACT_SALT, read at run time, never in the template.
   * @default an empty salt (synth warns when a schema asks for sha256)
   */
  redactSalt?: string;
  /**
   * Reserved concurrency of each HTTP ingest function: caps what a flood of requests can cost and leaves
   * the account's concurrency to the other tasks. @default none (the account's unreserved pool)
   */
  ingestReservedConcurrency?: number;
  /**
   * Customer managed KMS keys that encrypt the secrets or SecureString parameters the connector configs
   * reference: a function that reads such a secret may `kms:Decrypt` with them, only through Secrets
   * Manager or SSM (`kms:ViaService`). @default none (secrets under the AWS managed key need no grant)
   */
  secretsKeys?: kms.IKey[];
}

interface TaskResources {
  reads: string[];
  writes: string[];
  /** Its state-table partition and calls; undefined: no access to the state table. */
  state?: StateGrant;
  /** Collections whose fragments it writes (persister) or reads (materialization backfill). */
  fragmentsWrite: string[];
  fragmentsRead: string[];
}

/**
 * What each kind of task may do in the state table: one partition (ports/state-partitions.ts) and
 * exactly the calls its code makes there (shared/adapters/dynamodb.ts, materialize-dynamodb.ts).
 * - persister of c: the reduced view `s#c`, the only writer of it (load: BatchGetItem; conditional PutItem);
 * - derivation d: its origin watermarks `c#derivation:d` (GetItem, conditional PutItem), and when stateful its
 *   state manifest and pages there too (BatchGetItem, DeleteItem); it runs user code, so it can reach no
 *   reduced view and no other task's items;
 * - materialize-dynamodb m: its checkpoints and tombstones `c#materialization:m` (Query on open,
 *   BatchGetItem of tombstones, PutItem of tombstones, UpdateItem of checkpoint items); materialize-webhook
 *   m the same grant, for its checkpoint items (an endpoint keeps none: connectors/state-checkpoints.ts);
 * - every materialization m: its backfill lease `c#materialization:m` / `bf#lease` (conditional PutItem
 *   to take and renew it, conditional DeleteItem to release it; shared/adapters/dynamodb-lease.ts);
 * - captures: nothing (no statement at all).
 */
export const STATE_ACCESS = {
  persister: ['dynamodb:BatchGetItem', 'dynamodb:PutItem'],
  derivation: ['dynamodb:GetItem', 'dynamodb:PutItem'],
  /** A stateful derivation also keeps its state pages there (BatchGetItem to load, DeleteItem of stale ones). */
  statefulDerivation: [
    'dynamodb:BatchGetItem',
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
  ],
  materialization: ['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
  /** Every materialization's backfill lease (one leader per materialization). */
  backfillLease: ['dynamodb:DeleteItem', 'dynamodb:PutItem'],
} as const;

/** What reading a stream through an event-source mapping takes (as CDK's Stream.grantRead grants). */
const KINESIS_READ = [
  'kinesis:DescribeStream',
  'kinesis:DescribeStreamConsumer',
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
  'kinesis:ListStreams',
  'kinesis:SubscribeToShard',
] as const;

/** Longest stream-name pattern: names over 128 characters keep their first 117 (streamNameFor). */
const MAX_STREAM_PATTERN = 117;

/** One task's state-table grant: its partition and the calls of its kind. */
export interface StateGrant {
  partition: string;
  actions: readonly string[];
}

export class SluiceCatalog extends Construct {
  readonly catalog: BuiltCatalog;
  readonly streams = new Map<string, kinesis.Stream>();
  /** Bucket of each storage mapping's store, by bucket name; `''` is the default fragments bucket. */
  readonly buckets = new Map<string, s3.IBucket>();
  readonly stateTable: dynamodb.TableV2;
  /** Tables of materialize-dynamodb bindings, by table name. */
  readonly materializedTables = new Map<string, dynamodb.TableV2>();
  /** Task functions by task label (`capture:<name>`, `derivation:<name>`, `materialization:<name>`, `persister:<name>`). */
  readonly functions = new Map<string, SluiceFunction>();
  readonly deadLetterQueues = new Map<string, sqs.Queue>();
  readonly ingestUrls = new Map<string, lambda.FunctionUrl>();
  readonly monitoring: SluiceMonitoring;
  readonly accessLogs: s3.Bucket;

  private readonly props: SluiceCatalogProps;
  private readonly esm: EventSourceSettings;
  private readonly places = new Map<string, FragmentPlace>();
  /** Each collection's nested stack: its persister, and the event-source mappings of every reader. */
  private readonly collectionStacks = new Map<string, NestedStack>();
  /** SLUICE_PREFIX of every function, which names the streams; undefined when the stack's name is a token. */
  private readonly streamPrefix: string | undefined;
  /** Interface endpoints made for functions in `props.vpc`. */
  private readonly interfaceEndpoints: ec2.InterfaceVpcEndpoint[] = [];
  private readonly scopes: Record<
    'collections' | 'captures' | 'derivations' | 'materializations' | 'persisters',
    Construct
  >;

  constructor(scope: Construct, id: string, props: SluiceCatalogProps) {
    super(scope, id);
    this.props = props;
    this.catalog = typeof props.catalog === 'string' ? loadCatalogSync(props.catalog) : props.catalog;
    this.esm = { ...DEFAULT_EVENT_SOURCE, ...props.eventSource };
    this.streamPrefix = streamPrefixOf(this);
    this.scopes = {
      collections: new Construct(this, 'Collections'),
      captures: new Construct(this, 'Captures'),
      derivations: new Construct(this, 'Derivations'),
      materializations: new Construct(this, 'Materializations'),
      persisters: new Construct(this, 'Persisters'),
    };
    this.checkOverrides();
    this.checkViews();

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket of the stack; logging it into itself would loop.',
    });

    this.stateTable = new dynamodb.TableV2(this, 'State', {
      partitionKey: { name: 'p', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'k', type: dynamodb.AttributeType.BINARY },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
      // Tombstones of deleted documents expire (SLUICE_TOMBSTONE_TTL_SECONDS, set on persisters).
      timeToLiveAttribute: 'ttl',
    });

    this.monitoring = new SluiceMonitoring(this, 'Monitoring', {
      catalogName: this.catalogName(),
      metricsNamespace: props.metricsNamespace ?? 'Sluice',
      alarmTopic: props.alarmTopic,
    });

    for (const name of Object.keys(this.catalog.collections).sort())
      this.addCollection(this.catalog.collections[name]);
    const persisters = Object.keys(this.catalog.collections)
      .sort()
      .map((name) => this.addPersister(this.catalog.collections[name]));
    this.monitoring.addPersisterRows(persisters);
    for (const name of Object.keys(this.catalog.collections).sort())
      if (this.catalog.collections[name].derive) this.addDerivation(this.catalog.collections[name]);
    for (const name of Object.keys(this.catalog.captures).sort()) this.addCapture(name);
    for (const name of Object.keys(this.catalog.materializations).sort()) this.addMaterialization(name);

    new CfnOutput(this, 'DashboardName', {
      value: this.monitoring.dashboard.dashboardName,
      description: 'CloudWatch dashboard of this catalog',
    });
    new CfnOutput(this, 'StateTableName', { value: this.stateTable.tableName });
    // Runs before CDK's own limit check, which would stop synth with only a count.
    this.node.addValidation({
      validate: () => stackBudget(this, Object.keys(this.catalog.collections).length),
    });
  }

  private catalogName(): string {
    const root = this.catalog.root;
    return root.split('/').slice(-2).join('/');
  }

  /** `views`: `all`, `none`, or names of this catalog's collections. */
  private checkViews(): void {
    const v = this.props.views;
    if (v === undefined || v === 'all' || v === 'none') return;
    const refuse = (pointer: string, found: unknown, why: string) =>
      new DeployUnsupportedError('InvalidOverride', 'SluiceCatalogProps.views', pointer, found, why);
    if (!Array.isArray(v)) throw refuse('', v, "'all', 'none' or a list of collection names");
    const names = Object.keys(this.catalog.collections);
    v.forEach((name, i) => {
      if (typeof name !== 'string' || !this.catalog.collections[name])
        throw refuse(`/${i}`, name, `a collection of this catalog: ${names.join(', ')}`);
    });
  }

  /** Whether a collection keeps its reduced view (SluiceCatalogProps.views). */
  private keepsView(collection: string): boolean {
    const v = this.props.views ?? 'all';
    return v === 'all' || (Array.isArray(v) && v.includes(collection));
  }

  /**
   * `onFailure`: a policy, or policies keyed by the label of a task of this catalog that can park: its
   * stream tasks, and captures that read a source (not HTTP ingest).
   */
  private checkOnFailure(): void {
    const failure = (this.props.eventSource?.failure as { policy?: unknown } | undefined)?.policy;
    if (failure !== undefined && failure !== 'halt')
      throw new DeployUnsupportedError(
        'InvalidOverride',
        'SluiceCatalogProps.eventSource',
        '/failure/policy',
        failure,
        "only 'halt': a policy that gives a failing batch up skips its documents for good (its range cannot be re-driven once the task moved past it). To keep a shard flowing, set onFailure: 'park', which sets aside only the failing document for `sluice redrive`",
      );
    const p = this.props.onFailure;
    if (p === undefined) return;
    const refuse = (pointer: string, found: unknown, why: string) =>
      new DeployUnsupportedError('InvalidOverride', 'SluiceCatalogProps.onFailure', pointer, found, why);
    const policies: [string, unknown][] = typeof p === 'string' ? [['', p]] : Object.entries(p);
    const labels = [
      ...Object.keys(this.catalog.collections).map((c) => taskLabel('persister', c)),
      ...Object.values(this.catalog.collections)
        .filter((c) => c.derive)
        .map((c) => taskLabel('derivation', c.name)),
      ...Object.keys(this.catalog.materializations).map((m) => taskLabel('materialization', m)),
      ...Object.keys(this.catalog.captures)
        .filter((c) => this.capturesParkable(c))
        .map((c) => taskLabel('capture', c)),
    ];
    for (const [label, v] of policies) {
      if (label !== '' && label.startsWith('capture:') && !labels.includes(label)) {
        const name = label.slice('capture:'.length);
        if (this.catalog.captures[name])
          throw refuse(
            `/${label}`,
            v,
            'an HTTP ingest capture has nothing to park: a document it cannot take is refused to its sender (400, with where and why), who keeps it',
          );
      }
      if (label !== '' && !labels.includes(label))
        throw refuse(
          `/${label}`,
          label,
          `no task labelled ${label} that can park; those that can: ${labels.join(', ')}`,
        );
      if (v !== 'halt' && v !== 'park') throw refuse(label && `/${label}`, v, "expected 'halt' or 'park'");
    }
  }

  private checkOverrides(): void {
    // Derive tasks drop re-published documents by origin watermarks per input shard, which needs the
    // shard's batches one at a time, in order (shared/derive/task.ts): no concurrent batches per shard.
    // Materializations skip what a shard's committed position covers (transactional and delta connectors,
    // every backfilled binding), and a backfill skips a fragment whose range an earlier one covers: with
    // concurrent batches of one shard (interleaved sequence numbers) a batch that commits later than one
    // further ahead would have its documents skipped, for good.
    const pf = this.esm.parallelizationFactor;
    if (pf !== 1 && Object.values(this.catalog.collections).some((c) => c.derive)) {
      throw new DeployUnsupportedError(
        'InvalidOverride',
        'SluiceCatalogProps.eventSource',
        '/parallelizationFactor',
        pf,
        'derivations need parallelizationFactor 1 (their origin watermarks assume one batch per shard at a time)',
      );
    }
    if (pf !== 1 && Object.keys(this.catalog.materializations).length > 0) {
      throw new DeployUnsupportedError(
        'InvalidOverride',
        'SluiceCatalogProps.eventSource',
        '/parallelizationFactor',
        pf,
        'materializations need parallelizationFactor 1 (they skip what a shard position covers: a concurrent batch of the same shard committing behind a later one would be skipped)',
      );
    }
    this.checkOnFailure();
    for (const [name, o] of Object.entries(this.props.streams ?? {})) {
      if (!(name in this.catalog.collections)) {
        throw new DeployUnsupportedError(
          'InvalidOverride',
          'SluiceCatalogProps.streams',
          `/${name}`,
          name,
          `no collection named ${name} in the catalog`,
        );
      }
      if (o.shards !== undefined && !(Number.isInteger(o.shards) && o.shards >= 1 && o.shards <= 10000)) {
        throw new DeployUnsupportedError(
          'InvalidOverride',
          'SluiceCatalogProps.streams',
          `/${name}/shards`,
          o.shards,
          'shards must be an integer from 1 to 10000',
        );
      }
      if (
        o.retentionHours !== undefined &&
        !(Number.isInteger(o.retentionHours) && o.retentionHours >= 24 && o.retentionHours <= 8760)
      ) {
        throw new DeployUnsupportedError(
          'InvalidOverride',
          'SluiceCatalogProps.streams',
          `/${name}/retentionHours`,
          o.retentionHours,
          'retentionHours must be an integer from 24 to 8760',
        );
      }
    }
  }

  // ---------------------------------------------------------------- storage

  private bucketFor(place: FragmentPlace): s3.IBucket {
    const key = place.bucket ?? '';
    const existing = this.buckets.get(key);
    if (existing) return existing;
    const scope =
      this.scopes.collections.node.tryFindChild('Buckets') ??
      new Construct(this.scopes.collections, 'Buckets');
    let bucket: s3.IBucket;
    if (place.bucket !== undefined && this.props.buckets === 'import') {
      bucket = s3.Bucket.fromBucketName(scope, place.bucket, place.bucket);
    } else {
      bucket = new s3.Bucket(scope, place.bucket ?? 'DefaultFragments', {
        bucketName: place.bucket,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        versioned: false,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.accessLogs,
        serverAccessLogsPrefix: `${place.bucket ?? 'default'}/`,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    this.buckets.set(key, bucket);
    return bucket;
  }

  private addCollection(spec: CollectionSpec): void {
    const id = constructIdFor('collection', spec.name);
    const scope = new Construct(this.scopes.collections, id);
    const o = this.props.streams?.[spec.name];
    const stream = new kinesis.Stream(scope, 'Stream', {
      // Named, not generated: every function finds a stream from SLUICE_PREFIX and the collection's
      // name (shared/config/env.ts streamNameFor), so none needs a name per stream in its environment,
      // which Lambda caps at 4 KB in all (a capture of 40 tables would not fit).
      streamName: this.streamPrefix === undefined ? undefined : streamNameFor(this.streamPrefix, spec.name),
      streamMode: o?.shards === undefined ? kinesis.StreamMode.ON_DEMAND : kinesis.StreamMode.PROVISIONED,
      shardCount: o?.shards,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(o?.retentionHours ?? 24),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.streams.set(spec.name, stream);

    const place = fragmentPlace(this.catalog, spec);
    this.places.set(spec.name, place);
    const bucket = this.bucketFor(place);
    if (place.retentionDays !== undefined) {
      if (bucket instanceof s3.Bucket) {
        bucket.addLifecycleRule({
          id: `retention:${spec.name}`,
          prefix: place.prefix,
          expiration: Duration.days(place.retentionDays),
        });
      } else {
        throw new DeployUnsupportedError(
          'InvalidOverride',
          at(spec.source),
          `${spec.source.pointer}/journals/fragments/retention`,
          spec.journals?.fragments?.retention,
          `retention needs a lifecycle rule on bucket ${place.bucket}, which is imported (buckets: 'import'); set it on the bucket yourself or let Sluice create it`,
        );
      }
    }
  }

  // ---------------------------------------------------------------- grants

  private grantState(fn: SluiceFunction, grant: StateGrant): void {
    // One table holds every task's state; dynamodb:LeadingKeys confines a function to its one partition.
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [...grant.actions],
        resources: [this.stateTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [grant.partition] },
        },
      }),
    );
  }

  private grantStreamsWrite(fn: SluiceFunction, collections: string[]): void {
    if (collections.length === 0) return;
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        // GetShardIterator and GetRecords: after a PutRecords whose answer was lost, the journal reads the
        // stream for its records before it sends any again (shared/adapters/kinesis-landed.ts).
        actions: [
          'kinesis:PutRecord',
          'kinesis:PutRecords',
          'kinesis:ListShards',
          'kinesis:DescribeStreamSummary',
          'kinesis:GetShardIterator',
          'kinesis:GetRecords',
        ],
        resources: this.streamArns(fn, collections),
      }),
    );
  }

  /** The stream's name as the functions see it: the literal one when the stack names streams. */
  private streamNameOf(collection: string): string {
    return this.streamPrefix === undefined
      ? this.stream(collection).streamName
      : streamNameFor(this.streamPrefix, collection);
  }

  /** Read the streams of `collections` (what an event-source mapping needs of its function's role). */
  private grantStreamsRead(fn: SluiceFunction, collections: string[]): void {
    if (collections.length === 0) return;
    fn.role.addToPolicy(
      new iam.PolicyStatement({ actions: [...KINESIS_READ], resources: this.streamArns(fn, collections) }),
    );
  }

  /**
   * ARNs of the streams of `collections`: a folder whose every stream is among them as one pattern
   * (`…:stream/Sluice-x-Flow-acme.cdc.*`, infra/name-patterns.ts), the others one by one. Keeps the
   * role of a task over hundreds of tables within IAM's policy sizes.
   */
  private streamArns(fn: SluiceFunction, collections: string[]): string[] {
    const prefix = this.streamPrefix;
    if (prefix === undefined) return collections.map((c) => this.stream(c).streamArn);
    const { patterns, single } = namePatterns(
      collections,
      Object.keys(this.catalog.collections),
      (c) => streamNameFor(prefix, c),
      MAX_STREAM_PATTERN,
    );
    const stack = Stack.of(this);
    const wildcards = patterns.map((p) => {
      const arn = stack.formatArn({ service: 'kinesis', resource: 'stream', resourceName: p });
      this.ackPrefixWildcard(
        fn,
        `Resource::${this.renderArn(arn)}`,
        `the streams of one folder of collections, all of which it uses`,
      );
      return arn;
    });
    return [...single.map((c) => this.stream(c).streamArn), ...wildcards];
  }

  /**
   * Get (and Put) the fragment folders of `collections`. In a bucket the stack owns, a folder of the
   * catalog whose every collection is among them is granted as one prefix (`flow/acme/cdc/*`,
   * infra/name-patterns.ts); an imported bucket may hold other catalogs' folders, so there each
   * collection's folder is granted by itself.
   */
  private grantFragments(fn: SluiceFunction, collections: string[], write: boolean): void {
    const actions = write ? ['s3:PutObject', 's3:GetObject'] : ['s3:GetObject'];
    // A store is a bucket and a prefix in it; collections are compared only with those of their store.
    const storeOf = (c: string) => {
      const place = this.places.get(c) as FragmentPlace;
      return `${place.bucket ?? ''}\n${storePrefixOf(place.prefix, c)}`;
    };
    const groups = new Map<string, string[]>();
    for (const c of collections) groups.set(storeOf(c), [...(groups.get(storeOf(c)) ?? []), c]);
    for (const members of groups.values()) {
      const place = this.places.get(members[0]) as FragmentPlace;
      const bucket = this.bucketFor(place);
      const storePrefix = storePrefixOf(place.prefix, members[0]);
      const { patterns, single } =
        bucket instanceof s3.Bucket
          ? namePatterns(
              members,
              Object.keys(this.catalog.collections).filter((c) => storeOf(c) === storeOf(members[0])),
              (c) => `${storePrefix}${c}${c.endsWith('/') ? '' : '/'}`,
            )
          : { patterns: [], single: members };
      const folders = [
        ...single.map((c) => (this.places.get(c) as FragmentPlace).prefix),
        ...patterns.map((p) => p.slice(0, -1)),
      ];
      for (const folder of folders) this.grantFolder(fn, bucket, folder, actions, 'its fragments', true);
    }
  }

  /**
   * A derivation's origin watermarks, or a transactional materialization's origin marks (one per
   * upstream source: per S3 object or ingest request for captured sources), expire once no replay can
   * bring that source's documents again: the longest replay window of its sources, and a day.
   */
  private originHorizon(fn: SluiceFunction, sources: string[]): void {
    const replay = Math.max(24, ...sources.map((c) => this.replayHours(c)));
    fn.fn.addEnvironment('SLUICE_APPLIED_HORIZON_SECONDS', String((replay + 24) * 3600));
  }

  /** Retention of a collection's stream, in hours. */
  private retentionHours(collection: string): number {
    return this.props.streams?.[collection]?.retentionHours ?? 24;
  }

  /**
   * For how long, in hours after it was folded, a document of `collection` can be delivered again: its
   * stream's retention, plus — for a derived collection — the longest such time of its sources. A
   * derivation whose mapping starts over (TRIM_HORIZON) without its watermarks re-publishes what its
   * sources' streams still hold, with those documents' origins (the dedup sources), and the copies then
   * sit in this stream for its own retention. The chain adds up; a cycle counts once.
   */
  private replayHours(collection: string, seen: Set<string> = new Set()): number {
    if (seen.has(collection)) return 0;
    seen.add(collection);
    const spec = this.catalog.collections[collection];
    const upstream = spec ? derivationSources(spec).map((c) => this.replayHours(c, new Set(seen))) : [];
    return this.retentionHours(collection) + Math.max(0, ...upstream);
  }

  /**
   * The persister of `collection` spills reduced documents too large for a state item beside its
   * fragment folder (shared/persist/place.ts viewSpillFolder): Get and Put under exactly that folder.
   * No ListBucket: a spilled object is only read through a pointer written after it.
   */
  private grantViewSpill(fn: SluiceFunction, collection: string): void {
    const place = this.places.get(collection) as FragmentPlace;
    const bucket = this.bucketFor(place);
    const folder = viewSpillFolder(place.prefix, collection);
    this.grantFolder(fn, bucket, folder, ['s3:GetObject', 's3:PutObject'], 'its spilled reduced documents');
  }

  /**
   * S3 `actions` on exactly the objects under `folder` (cdk-nag is told why the prefix wildcard), and with
   * `list`, s3:ListBucket with exactly that folder as s3:prefix.
   */
  private grantFolder(
    fn: SluiceFunction,
    bucket: s3.IBucket,
    folder: string,
    actions: string[],
    what: string,
    list = false,
  ): void {
    fn.role.addToPolicy(
      new iam.PolicyStatement({ actions, resources: [bucket.arnForObjects(`${folder}*`)] }),
    );
    if (list)
      fn.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${folder}*`] } },
        }),
      );
    this.ackPrefixWildcard(
      fn,
      `Resource::${this.bucketArnSeenBy(fn, bucket)}/${folder}*`,
      `${what} under ${folder}`,
    );
  }

  /** The stack's default bucket (unmapped collections' fragments, capture state); created when missing. */
  private defaultBucket(): s3.IBucket {
    return this.bucketFor({ bucket: undefined, prefix: '' });
  }

  /**
   * A polling capture keeps its state in one object of the default bucket, `_sluice/captures/<capture>.json`
   * (shared/connectors/capture-runner.ts): Get and Put on exactly that key, and ListBucket with exactly
   * that key as s3:prefix. Without the latter S3 answers the first poll's GetObject (no state yet) with
   * 403 AccessDenied instead of 404, and the capture could never start. The listing it allows reveals
   * nothing but whether that object exists.
   */
  private grantCaptureState(fn: SluiceFunction, capture: string): void {
    const bucket = this.defaultBucket();
    const key = captureStateKey(capture);
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [bucket.arnForObjects(key)],
      }),
    );
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringEquals: { 's3:prefix': [key] } },
      }),
    );
  }

  private grantSecrets(
    fn: SluiceFunction,
    config: BuiltCatalog['captures'][string]['endpoint']['config'],
    label: string,
    pointer: string,
  ): void {
    const scan = scanSecrets(config, pointer);
    const stack = Stack.of(this);
    const sm = scan.refs.filter((r) => r.kind === 'secretsmanager');
    const ssm = scan.refs.filter((r) => r.kind === 'ssm');
    if (sm.length > 0) {
      const arns = [
        ...new Set(sm.map((r) => secretArn(r.id, stack.partition, stack.region, stack.account))),
      ].sort();
      fn.role.addToPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: arns }),
      );
      for (const arn of arns) {
        if (arn.endsWith('-??????')) {
          this.ackPrefixWildcard(
            fn,
            `Resource::${this.renderArn(arn)}`,
            'one named secret (the -?????? suffix is its random ARN suffix)',
          );
        }
      }
    }
    if (ssm.length > 0) {
      const arns = [
        ...new Set(ssm.map((r) => parameterArn(r.parameter, stack.partition, stack.region, stack.account))),
      ].sort();
      fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: arns }));
    }
    const keys = this.props.secretsKeys ?? [];
    if ((sm.length > 0 || ssm.length > 0) && keys.length > 0) {
      fn.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: keys.map((k) => k.keyArn),
          conditions: {
            StringEquals: {
              'kms:ViaService': [
                ...(sm.length > 0 ? [`secretsmanager.${stack.region}.amazonaws.com`] : []),
                ...(ssm.length > 0 ? [`ssm.${stack.region}.amazonaws.com`] : []),
              ],
            },
          },
        }),
      );
    }
    for (const w of scan.warnings) {
      // Synth warnings (not errors): local-development catalogs use ${ENV} forms on purpose.
      Annotations.of(fn).addWarningV2('sluice:secretNotOnAws', `${label} ${w.pointer}: ${w.message}`);
    }
  }

  /**
   * A PostgreSQL endpoint in plaintext (`sslmode: disable` or `allow`) is allowed only because the catalog
   * asks for it; synth says so (a local database, or one reached only inside a VPC, may be meant).
   */
  private warnPlaintextPostgres(
    fn: SluiceFunction,
    spec: CaptureSpec | MaterializationSpec,
    label: string,
  ): void {
    if (
      spec.endpoint.connector !== 'source-postgres-batch' &&
      spec.endpoint.connector !== 'materialize-postgres'
    )
      return;
    const config = spec.endpoint.config;
    const advanced = isObject(config) && isObject(config.advanced) ? config.advanced : {};
    const mode = advanced.sslmode;
    if (mode === 'disable' || mode === 'allow')
      Annotations.of(fn).addWarningV2(
        'sluice:postgresPlaintext',
        `${label} ${spec.source.pointer}/endpoint/connector/config/advanced/sslmode: ${mode} sends credentials and rows in plaintext; use verify-full (the default) with advanced.sslrootcert`,
      );
  }

  /**
   * A task that writes documents into collections whose schemas ask for `redact: {strategy: sha256}` gets
   * the catalog's salt (a secret reference, granted like a connector's secrets).
   */
  private redactSaltFor(fn: SluiceFunction, shipped: BuiltCatalog, label: string): void {
    if (!/"redact":\{"strategy":"sha256"\}/.test(JSON.stringify(shipped.schemas).replaceAll(' ', ''))) return;
    const salt = this.props.redactSalt;
    if (salt === undefined) {
      Annotations.of(fn).addWarningV2(
        'sluice:redactWithoutSalt',
        `${label}: a schema redacts with sha256 but SluiceCatalogProps.redactSalt is not set; hashes use an empty salt and can be reversed by guessing`,
      );
      return;
    }
    if (!/^(secretsmanager:|ssm:|arn:aws[\w-]*:secretsmanager:)/.test(salt))
      Annotations.of(fn).addWarningV2(
        'sluice:redactSaltInClear',
        `${label}: SluiceCatalogProps.redactSalt should be a secretsmanager: or ssm: reference, not the salt itself`,
      );
    fn.fn.addEnvironment('SLUICE_REDACT_SALT', salt);
    this.grantSecrets(fn, { redactSalt: salt }, label, 'SluiceCatalogProps');
  }

  private renderArn(arn: string): string {
    return arn
      .replace(/^arn:\$\{Token\[AWS\.Partition\.\d+\]\}/, 'arn:<AWS::Partition>')
      .replace(/\$\{Token\[AWS\.Region\.\d+\]\}/, '<AWS::Region>')
      .replace(/\$\{Token\[AWS\.AccountId\.\d+\]\}/, '<AWS::AccountId>');
  }

  /**
   * The bucket's ARN as cdk-nag renders it in a finding of `fn`'s policy: `<Bucket.Arn>` in the bucket's
   * own stack; in a nested stack (persisters), the parameter CDK passes it through,
   * `<referenceto<bucket's unique id>Arn>` (aws-cdk-lib core/lib/private/refs.ts names it so).
   */
  private bucketArnSeenBy(fn: SluiceFunction, bucket: s3.IBucket): string {
    const cfn = bucket.node.defaultChild as s3.CfnBucket | undefined;
    if (!cfn) return `<${bucket.bucketName}.Arn>`;
    if (Stack.of(fn) === Stack.of(cfn)) return `<${Stack.of(cfn).getLogicalId(cfn)}.Arn>`;
    return `<referenceto${Names.nodeUniqueId(cfn.node)}Arn>`;
  }

  /**
   * cdk-nag AwsSolutions-IAM5 flags any `*` in a resource; a key-prefix wildcard confined to one
   * collection's prefix is the least privilege S3 can express, so acknowledge exactly that finding.
   */
  private ackPrefixWildcard(fn: SluiceFunction, finding: string, what: string): void {
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[${finding}]`,
      reason: `Least privilege: the wildcard only spans ${what}.`,
    });
  }

  private stream(collection: string): kinesis.Stream {
    const s = this.streams.get(collection);
    if (!s) throw new Error(`internal: no stream for collection ${collection}`);
    return s;
  }

  // ---------------------------------------------------------------- functions

  private makeFunction(
    scope: Construct,
    id: string,
    kind: FunctionKind,
    label: string,
    task: string,
    res: TaskResources,
    ship: TaskRef,
    extra: {
      derivationModule?: string;
      derivationImports?: Record<string, string>;
      sqlite?: boolean;
      reservedConcurrency?: number;
      catalog?: BuiltCatalog;
      /** Put it in `props.vpc` (connectors that reach the user's database). */
      inVpc?: boolean;
    } = {},
  ): SluiceFunction {
    const shipped = extra.catalog ?? taskCatalog(this.catalog, ship);
    const vpc = extra.inVpc && this.props.vpc ? this.vpcPlacement(shipped) : undefined;
    // Streams and fragment folders follow from SLUICE_PREFIX, SLUICE_BUCKET and the shipped catalog's
    // storage mappings; only a persister lists its own (the local stack maps collections from them),
    // and every function its streams when the stack's name is not known at synth (no prefix).
    const own = kind === 'persist' ? [task] : [];
    const streams = Object.fromEntries(
      (this.streamPrefix === undefined ? [...new Set([...res.reads, ...res.writes])] : own)
        .sort()
        .map((c) => [c, this.streamNameOf(c)]),
    );
    const fragments = Object.fromEntries(
      own.map((c) => {
        const place = this.places.get(c) as FragmentPlace;
        return [c, `s3://${this.bucketFor(place).bucketName}/${place.prefix}`];
      }),
    );
    const defaultBucket = this.buckets.get('');
    const fn = new SluiceFunction(scope, id, {
      kind,
      task: label,
      // Only its own task's part of the catalog (shared/catalog/task-catalog.ts).
      catalog: shipped,
      vpc,
      metricsNamespace: this.props.metricsNamespace ?? 'Sluice',
      memorySize: kind === 'ingest' ? 512 : (this.props.memorySize ?? 1024),
      timeout: kind === 'ingest' ? Duration.seconds(30) : Duration.minutes(2),
      logRetention: this.props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      derivationModule: extra.derivationModule,
      derivationImports: extra.derivationImports,
      sqlite: extra.sqlite,
      reservedConcurrentExecutions: extra.reservedConcurrency,
      logLevel: this.taskLogLevel(kind, task),
      environment: {
        SLUICE_TASK: task,
        ...(this.streamPrefix === undefined ? {} : { SLUICE_PREFIX: this.streamPrefix }),
        ...(Object.keys(streams).length > 0 ? { SLUICE_STREAMS: Stack.of(this).toJsonString(streams) } : {}),
        SLUICE_STATE_TABLE: this.stateTable.tableName,
        ...(defaultBucket ? { SLUICE_BUCKET: defaultBucket.bucketName } : {}),
        ...(Object.keys(fragments).length > 0
          ? { SLUICE_FRAGMENTS: Stack.of(this).toJsonString(fragments) }
          : {}),
      },
    });
    this.functions.set(label, fn);
    if (ship.kind === 'capture' || ship.kind === 'derivation') this.redactSaltFor(fn, shipped, label);
    if (vpc) for (const ep of this.interfaceEndpoints) ep.connections.allowDefaultPortFrom(fn.fn, label);
    this.grantStreamsWrite(fn, res.writes);
    if (res.state) this.grantState(fn, res.state);
    this.grantFragments(fn, res.fragmentsWrite, true);
    this.grantFragments(
      fn,
      res.fragmentsRead.filter((c) => !res.fragmentsWrite.includes(c)),
      false,
    );
    return fn;
  }

  /** Estuary's `shards.logLevel` of the task, if set (persisters have none). */
  private taskLogLevel(kind: FunctionKind, task: string): ShardSettings['logLevel'] {
    const shards =
      kind === 'derive'
        ? this.catalog.collections[task]?.derive?.shards
        : kind === 'materialize'
          ? this.catalog.materializations[task]?.shards
          : kind === 'persist'
            ? undefined
            : this.catalog.captures[task]?.shards;
    return shardSettings(shards).logLevel;
  }

  /**
   * Where a function placed in `props.vpc` runs, after making sure the VPC has the endpoints it needs
   * to reach AWS without a NAT: S3 and DynamoDB (gateway), Kinesis (interface), and Secrets Manager / SSM
   * (interface) once a shipped config references them. Each endpoint is made once per stack.
   */
  private vpcPlacement(shipped: BuiltCatalog): NonNullable<SluiceFunctionProps['vpc']> {
    const vpc = this.props.vpc as ec2.IVpc;
    const subnets = this.props.vpcSubnets;
    const scope =
      (this.node.tryFindChild('VpcEndpoints') as Construct | undefined) ??
      new Construct(this, 'VpcEndpoints');
    const once = (id: string, make: () => void) => {
      if (!scope.node.tryFindChild(id)) make();
    };
    once(
      'S3',
      () => new ec2.GatewayVpcEndpoint(scope, 'S3', { vpc, service: ec2.GatewayVpcEndpointAwsService.S3 }),
    );
    once(
      'DynamoDB',
      () =>
        new ec2.GatewayVpcEndpoint(scope, 'DynamoDB', {
          vpc,
          service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
        }),
    );
    // Interface endpoints admit HTTPS only from the functions placed here (open: false; see makeFunction).
    const iface = (id: string, service: ec2.InterfaceVpcEndpointAwsService) =>
      once(id, () => {
        this.interfaceEndpoints.push(
          new ec2.InterfaceVpcEndpoint(scope, id, {
            vpc,
            service,
            subnets,
            privateDnsEnabled: true,
            open: false,
          }),
        );
      });
    iface('Kinesis', ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS);
    const text = JSON.stringify([
      ...Object.values(shipped.captures).map((c) => c.endpoint.config),
      ...Object.values(shipped.materializations).map((m) => m.endpoint.config),
    ]);
    if (/"(secretsmanager:|arn:aws[\w-]*:secretsmanager:)/.test(text))
      iface('SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER);
    if (/"ssm:/.test(text)) iface('Ssm', ec2.InterfaceVpcEndpointAwsService.SSM);
    return { vpc, subnets, securityGroups: this.props.securityGroups };
  }

  private deadLetterQueue(scope: Construct, label: string): sqs.Queue {
    const q = new sqs.Queue(scope, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Retained on `cdk destroy`: its messages are the only record of the ranges given up on.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(q).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the on-failure destination (dead-letter place) of the task; nothing consumes it automatically.',
    });
    this.deadLetterQueues.set(label, q);
    return q;
  }

  /**
   * Whether a capture can park (`onFailure: park`): one that reads a source (a poll, S3 objects) sets aside
   * what it cannot append; HTTP ingest refuses it to its sender instead.
   */
  private capturesParkable(name: string): boolean {
    const spec = this.catalog.captures[name];
    return spec !== undefined && connectorDefinition(spec.endpoint.connector)?.entry !== 'ingest';
  }

  /** The failure policy of the task `label` (props.onFailure). */
  private onFailureOf(label: string): OnFailure {
    const p = this.props.onFailure ?? 'halt';
    return typeof p === 'string' ? p : (p[label] ?? 'halt');
  }

  /**
   * Under `park`: the task's parking place (SLUICE_PARKED) in the default bucket, and S3 rights on
   * exactly that prefix: Put to park, List/Get/Delete to redrive (shared/ports/parking.ts).
   */
  private parking(fn: SluiceFunction, label: string): boolean {
    if (this.onFailureOf(label) !== 'park') return false;
    const bucket = this.defaultBucket();
    const prefix = parkedPrefix(label);
    fn.fn.addEnvironment('SLUICE_PARKED', `s3://${bucket.bucketName}/${prefix}`);
    const actions = ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'];
    this.grantFolder(fn, bucket, prefix, actions, 'its parked documents', true);
    return true;
  }

  /** Wire the task's event-source mappings; true when it parks (its policy is `park`). */
  private consume(
    fn: SluiceFunction,
    label: string,
    collections: string[],
    window: Duration = this.esm.maxBatchingWindow,
  ): boolean {
    for (const c of collections) {
      const stream = this.stream(c);
      // The mapping lives in the collection's nested stack, beside its persister's, not in the reader's
      // stack: a materialization of 200 bindings then costs the parent stack no resource per binding.
      const home = this.collectionStacks.get(c);
      if (!home) throw new Error(`internal: ${c} has no stack yet (persisters are added first)`);
      const mapping = new lambda.EventSourceMapping(home, `Reads:${label.replaceAll('/', ':')}`, {
        target: fn.fn,
        eventSourceArn: stream.streamArn,
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: this.esm.batchSize,
        maxBatchingWindow: window,
        bisectBatchOnError: this.esm.bisectBatchOnError,
        reportBatchItemFailures: this.esm.reportBatchItemFailures,
        parallelizationFactor: this.esm.parallelizationFactor,
      });
      // halt: AWS's "retry until the record succeeds" (-1) is outside the L2's accepted ranges; written
      // explicitly so that a stack deployed with bounded values is really reset by an update.
      const cfn = mapping.node.defaultChild as lambda.CfnEventSourceMapping;
      cfn.maximumRetryAttempts = RETRY_FOREVER.retryAttempts;
      cfn.maximumRecordAgeInSeconds = RETRY_FOREVER.maxRecordAgeSeconds;
      // Created only once the reader may read the stream (its role's policy is in another stack).
      mapping.node.addDependency(fn.role);
    }
    this.grantStreamsRead(fn, collections);
    return this.parking(fn, label);
  }

  /** The collection's persister, in its own nested stack; its dashboard lines are the caller's to add. */
  private addPersister(spec: CollectionSpec): MonitoredTask {
    const label = taskLabel('persister', spec.name);
    // Its own nested stack: a collection costs the parent stack two resources (its stream and this)
    // instead of nine, so a catalog of hundreds of collections fits CloudFormation's 500 per stack.
    const scope = new NestedStack(this.scopes.persisters, constructIdFor('collection', spec.name), {
      description: `Sluice ${label}`,
    });
    this.collectionStacks.set(spec.name, scope);
    const view = this.keepsView(spec.name);
    const fn = this.makeFunction(
      scope,
      'Function',
      'persist',
      label,
      spec.name,
      {
        reads: [spec.name],
        writes: [],
        // Without a view the persister writes fragments only: no access to the state table at all.
        state: view ? { partition: viewPartition(spec.name), actions: STATE_ACCESS.persister } : undefined,
        fragmentsWrite: [spec.name],
        fragmentsRead: [],
      },
      { kind: 'persister', name: spec.name },
    );
    if (view) {
      // A tombstone guards against replays of older documents; none can come once no stream holds them
      // (replayHours), so it may expire a day after that. An `applied` entry that has not moved for as
      // long guards nothing either (ports/state.ts pruneApplied): nothing but the stream feeds a reduced view.
      const horizon = String((this.replayHours(spec.name) + 24) * 3600);
      fn.fn.addEnvironment('SLUICE_TOMBSTONE_TTL_SECONDS', horizon);
      fn.fn.addEnvironment('SLUICE_APPLIED_HORIZON_SECONDS', horizon);
      this.grantViewSpill(fn, spec.name);
    } else fn.fn.addEnvironment('SLUICE_VIEW', 'off');
    const parks = this.consume(fn, label, [spec.name], this.esm.persisterBatchingWindow);
    const task = { label, fn: fn.fn, parks, streamConsumer: true };
    this.monitoring.addAlarms(constructIdFor('collection', `persister/${spec.name}`), task, scope);
    return task;
  }

  private addDerivation(spec: CollectionSpec): void {
    if (!spec.derive || shardSettings(spec.derive.shards).disable) return;
    const label = taskLabel('derivation', spec.name);
    const scope = new Construct(this.scopes.derivations, constructIdFor('collection', spec.name));
    const sourcesRead = derivationSources(spec);
    const ts = typescriptOf(spec.derive);
    const moduleShipped = `${LAMBDA_TASK_ROOT}/${DERIVATION_MODULE_FILE}`;
    // The shipped catalog (its own part only) points a TypeScript derivation at the module bundled next to it.
    const own = taskCatalog(this.catalog, { kind: 'derivation', name: spec.name });
    const shipped: BuiltCatalog = ts
      ? {
          ...own,
          collections: {
            ...own.collections,
            [spec.name]: {
              ...spec,
              derive: { ...spec.derive, using: { typescript: { module: moduleShipped } } },
            },
          },
        }
      : own;
    const fn = this.makeFunction(
      scope,
      'Function',
      'derive',
      label,
      spec.name,
      {
        reads: sourcesRead,
        writes: [spec.name],
        state: {
          partition: taskPartition(stateTaskId('derivation', spec.name)),
          actions: spec.derive.stateful ? STATE_ACCESS.statefulDerivation : STATE_ACCESS.derivation,
        },
        fragmentsWrite: [],
        fragmentsRead: [],
      },
      { kind: 'derivation', name: spec.name },
      {
        ...(ts ? { derivationModule: ts.module, derivationImports: ts.imports } : { sqlite: true }),
        catalog: shipped,
        // A stateful derivation commits its state with its checkpoint one invocation at a time
        // (shared/derive/task.ts): concurrent invocations would only conflict and retry.
        reservedConcurrency: spec.derive.stateful ? 1 : undefined,
      },
    );
    this.originHorizon(fn, sourcesRead);
    const parks = this.consume(fn, label, sourcesRead);
    this.monitoring.addTask(constructIdFor('collection', `derivation/${spec.name}`), {
      label,
      fn: fn.fn,
      parks,
      streamConsumer: true,
    });
  }

  private addCapture(name: string): void {
    const spec = this.catalog.captures[name];
    // Estuary's `shards.disable`: the task does not run, so nothing of it is deployed.
    if (shardSettings(spec.shards).disable) return;
    const connector = deployedConnector(spec, 'capture');
    const label = taskLabel('capture', name);
    const scope = new Construct(this.scopes.captures, constructIdFor('capture', name));
    const writes = captureTargets(spec);
    const grants = this.grantsOf(connector, spec);
    // Polling keeps state in the default bucket: it must exist before the function is made, which
    // passes it as SLUICE_BUCKET.
    if (grants.includes('capture-state')) this.defaultBucket();
    const fn = this.makeFunction(
      scope,
      'Function',
      connector.entry,
      label,
      name,
      { reads: [], writes, fragmentsWrite: [], fragmentsRead: [] },
      { kind: 'capture', name },
      {
        reservedConcurrency:
          connector.reservedConcurrency ??
          (connector.entry === 'ingest' ? this.props.ingestReservedConcurrency : undefined),
        inVpc: connector.inVpc,
      },
    );
    for (const g of grants) this.grantConnector(fn, g, name, spec);
    this.grantSecrets(
      fn,
      spec.endpoint.config,
      `capture ${name}`,
      `${spec.source.pointer}/endpoint/connector/config`,
    );
    this.warnPlaintextPostgres(fn, spec, `capture ${name}`);
    let dlq: sqs.Queue | undefined;
    const triggers = connector.triggers.filter(
      (t) => t !== 'schedule-if-interval' || spec.interval !== undefined,
    );
    if (triggers.includes('function-url')) {
      // AWS_IAM auth: callers sign with SigV4; no unauthenticated endpoint. See docs/deploy.md.
      const url = fn.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
      for (const p of this.props.ingestInvokers ?? []) url.grantInvokeUrl(p);
      this.ingestUrls.set(name, url);
      new CfnOutput(scope, 'IngestUrl', {
        value: url.url,
        description: `HTTP ingest endpoint of capture ${name}`,
      });
    }
    const eventTriggers = triggers.filter((t) => t !== 'function-url');
    if (eventTriggers.length > 0) {
      dlq = this.deadLetterQueue(scope, label);
      const targetProps = { retryAttempts: 2, maxEventAge: Duration.hours(1), deadLetterQueue: dlq };
      if (eventTriggers.includes('s3-object-created')) {
        const loc = this.configLocation(spec, name);
        // An object's event is the only thing that brings it (without `interval`): under `halt`, one that
        // cannot be read is retried as long as EventBridge allows (185 times with backoff over a day), so a
        // fix deployed within the day captures it with no one re-sending anything, and an outage of that
        // long is ridden out; only then is it dead-lettered (alarmed all along by the errors alarm).
        const objectTarget = { retryAttempts: 185, maxEventAge: Duration.hours(24), deadLetterQueue: dlq };
        // New objects arrive as EventBridge "Object Created" events (the bucket must have EventBridge
        // notifications enabled); no custom resource rewrites the bucket's notification configuration.
        new events.Rule(scope, 'ObjectCreated', {
          description: `Sluice capture ${name}: new objects under s3://${loc.bucket}/${loc.prefix}`,
          eventPattern: {
            source: ['aws.s3'],
            detailType: ['Object Created'],
            detail: { bucket: { name: [loc.bucket] }, object: { key: [{ prefix: loc.prefix }] } },
          },
          targets: [new targets.LambdaFunction(fn.fn, objectTarget)],
        });
      }
      if (eventTriggers.includes('schedule') || eventTriggers.includes('schedule-if-interval')) {
        const seconds = spec.interval ?? 300;
        // EventBridge rates are whole minutes, at least one.
        const minutes = Math.max(1, Math.round(seconds / 60));
        new events.Rule(scope, 'Schedule', {
          description: `Sluice capture ${name}: poll every ${minutes} minute(s)`,
          schedule: events.Schedule.rate(Duration.minutes(minutes)),
          targets: [new targets.LambdaFunction(fn.fn, targetProps)],
        });
      }
    }
    this.monitoring.addTask(constructIdFor('capture', `capture/${name}`), {
      label,
      fn: fn.fn,
      dlq,
      streamConsumer: false,
      parks: this.capturesParkable(name) && this.parking(fn, label),
    });
  }

  private addMaterialization(name: string): void {
    const spec = this.catalog.materializations[name];
    if (shardSettings(spec.shards).disable) return;
    const connector = deployedConnector(spec, 'materialization');
    const label = taskLabel('materialization', name);
    const scope = new Construct(this.scopes.materializations, constructIdFor('materialization', name));
    const sourcesRead = materializationSources(spec);
    const grants = this.grantsOf(connector, spec);
    // Spilled items go to the default bucket: it must exist before the function, which gets SLUICE_BUCKET.
    if (grants.includes('spill-objects')) this.defaultBucket();
    const fn = this.makeFunction(
      scope,
      'Function',
      connector.entry,
      label,
      name,
      {
        reads: sourcesRead,
        writes: [],
        // Every materialization takes its backfill lease in its own partition; materialize-dynamodb
        // also keeps its checkpoints and tombstones there.
        state: {
          partition: taskPartition(stateTaskId('materialization', name)),
          actions: [
            ...new Set([
              ...STATE_ACCESS.backfillLease,
              ...(grants.includes('state-checkpoints') ? STATE_ACCESS.materialization : []),
            ]),
          ].sort(),
        },
        fragmentsWrite: [],
        // Backfill of a new binding reads the source collection's history from its fragments.
        fragmentsRead: sourcesRead,
      },
      { kind: 'materialization', name },
      { inVpc: connector.inVpc },
    );
    if (grants.includes('state-checkpoints')) this.replayHorizons(fn, sourcesRead);
    else this.originHorizon(fn, sourcesRead);
    this.grantSecrets(
      fn,
      spec.endpoint.config,
      `materialization ${name}`,
      `${spec.source.pointer}/endpoint/connector/config`,
    );
    this.warnPlaintextPostgres(fn, spec, `materialization ${name}`);
    for (const g of grants) this.grantConnector(fn, g, name, spec);
    const parks = this.consume(fn, label, sourcesRead);
    // The backfill job (functions/materialize.ts; docs/deploy.md, "Backfill"): a tick every minute
    // continues a pending backfill for one invocation's worth of time, under the lease. A tick with
    // nothing pending returns at once. No retries: the next tick is the retry.
    new events.Rule(scope, 'BackfillSchedule', {
      description: `Sluice materialization ${name}: backfill job tick (returns at once when nothing is pending)`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(fn.fn, {
          event: events.RuleTargetInput.fromObject({ sluiceBackfill: true }),
          retryAttempts: 0,
          maxEventAge: Duration.minutes(2),
        }),
      ],
    });
    this.monitoring.addTask(constructIdFor('materialization', `materialization/${name}`), {
      label,
      fn: fn.fn,
      parks,
      streamConsumer: true,
    });
  }

  /**
   * How long materialize-dynamodb's guards must last (shared/connectors/materialize-dynamodb.ts).
   * A tombstone (a deleted key's positions) guards against a redelivery of older documents of that key
   * by the streams: it expires a day after its sources' longest replayHours. A re-backfill
   * cannot resurrect an expired tombstone's key: with neither item nor tombstone, it folds the key's whole
   * history again from nothing and ends deleted again. An `applied` entry of a live item is different:
   * a re-backfill (a bumped counter, a resumed backfill) replays the sources' fragments and relies on
   * the entries to skip what the item already holds, so an entry may be pruned only once no fragment can
   * hold its documents either — when every source's fragments expire (`journals.fragments.retention`),
   * after the source's replayHours (a halted persister writes a fragment late), the fragments' retention
   * and a day. Without fragment retention on every source, entries are never pruned.
   */
  private replayHorizons(fn: SluiceFunction, sources: string[]): void {
    const stream = Math.max(24, ...sources.map((c) => this.replayHours(c)));
    fn.fn.addEnvironment('SLUICE_TOMBSTONE_TTL_SECONDS', String((stream + 24) * 3600));
    const fragmentDays = sources.map((c) => this.places.get(c)?.retentionDays);
    if (fragmentDays.length > 0 && fragmentDays.every((d) => d !== undefined)) {
      const hours = Math.max(
        ...sources.map((c, i) => this.replayHours(c) + (fragmentDays[i] as number) * 24),
      );
      fn.fn.addEnvironment('SLUICE_APPLIED_HORIZON_SECONDS', String((hours + 24) * 3600));
    }
  }

  /** The registry's grants of a connector that apply to this task (conditional ones resolved). */
  private grantsOf(
    connector: ConnectorDefinition,
    spec: CaptureSpec | MaterializationSpec,
  ): ConnectorGrant[] {
    const interval = 'interval' in spec && spec.interval !== undefined;
    return connector.grants
      .map((g) => (g === 'capture-state-if-interval' && interval ? 'capture-state' : g))
      .filter((g) => g !== 'capture-state-if-interval');
  }

  /** The `{bucket, prefix}` of a connector's config (source-s3, materialize-s3). */
  private configLocation(
    spec: CaptureSpec | MaterializationSpec,
    name: string,
  ): { bucket: string; prefix: string } {
    const pointer = `${spec.source.pointer}/endpoint/connector/config`;
    const loc = connectorBucket(spec.endpoint.config, at(spec.source), pointer);
    if (!loc) {
      throw new DeployUnsupportedError(
        'UnsupportedConnector',
        at(spec.source),
        `${pointer}/bucket`,
        spec.endpoint.config,
        `${spec.endpoint.connector} of ${name} needs config.bucket`,
      );
    }
    return loc;
  }

  /** One registry grant (shared/connectors/registry.ts) as the policy statements it stands for. */
  private grantConnector(
    fn: SluiceFunction,
    grant: ConnectorGrant,
    name: string,
    spec: CaptureSpec | MaterializationSpec,
  ): void {
    const bucketArn = (bucket: string) => `arn:${Stack.of(this).partition}:s3:::${bucket}`;
    switch (grant) {
      case 'capture-state':
        this.grantCaptureState(fn, name);
        return;
      case 'capture-state-if-interval':
        return; // resolved by grantsOf
      case 'state-checkpoints':
        return; // granted with the function (makeFunction's state)
      case 'spill-objects': {
        // Items too large for DynamoDB keep their document in the default bucket, content addressed under
        // its own folder (shared/ports/state-partitions.ts spillPrefix); read back through the item's pointer.
        const bucket = this.defaultBucket();
        const folder = spillPrefix({ materialization: name });
        this.grantFolder(fn, bucket, folder, ['s3:GetObject', 's3:PutObject'], 'its spilled items');
        return;
      }
      case 'config-objects-read': {
        const loc = this.configLocation(spec, name);
        fn.role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['s3:GetObject'],
            resources: [`${bucketArn(loc.bucket)}/${loc.prefix}*`],
          }),
        );
        fn.role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['s3:ListBucket'],
            resources: [bucketArn(loc.bucket)],
            conditions: { StringLike: { 's3:prefix': [`${loc.prefix}*`] } },
          }),
        );
        this.ackPrefixWildcard(
          fn,
          `Resource::arn:<AWS::Partition>:s3:::${loc.bucket}/${loc.prefix}*`,
          `the objects under s3://${loc.bucket}/${loc.prefix} that the capture reads`,
        );
        return;
      }
      case 'config-objects-write': {
        const loc = this.configLocation(spec, name);
        const prefix = s3Folder(loc.prefix);
        fn.role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['s3:PutObject'],
            resources: [`${bucketArn(loc.bucket)}/${prefix}*`],
          }),
        );
        this.ackPrefixWildcard(
          fn,
          `Resource::arn:<AWS::Partition>:s3:::${loc.bucket}/${prefix}*`,
          `the objects under s3://${loc.bucket}/${prefix} that the materialization writes`,
        );
        return;
      }
      case 'config-checkpoint-read': {
        const loc = this.configLocation(spec, name);
        const folder = checkpointFolderOf(loc.prefix, name);
        // It reads back only its own checkpoint objects (one per source shard, open() and nothing else):
        // GetObject and ListBucket under exactly that folder. Listing lets S3 answer 404, not 403, for a
        // missing object; it reveals nothing else of the bucket.
        fn.role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['s3:GetObject'],
            resources: [`${bucketArn(loc.bucket)}/${folder}*`],
          }),
        );
        fn.role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['s3:ListBucket'],
            resources: [bucketArn(loc.bucket)],
            conditions: { StringLike: { 's3:prefix': [`${folder}*`] } },
          }),
        );
        this.ackPrefixWildcard(
          fn,
          `Resource::arn:<AWS::Partition>:s3:::${loc.bucket}/${folder}*`,
          `the checkpoint objects under s3://${loc.bucket}/${folder} that the materialization reads back`,
        );
        return;
      }
      case 'binding-tables': {
        const m = spec as MaterializationSpec;
        const tables: dynamodb.TableV2[] = [];
        m.bindings.forEach((b, i) => {
          if (b.disable) return;
          const tableName =
            typeof b.resource === 'object' && b.resource && !Array.isArray(b.resource)
              ? b.resource.table
              : undefined;
          if (typeof tableName !== 'string') {
            throw new DeployUnsupportedError(
              'UnsupportedConnector',
              at(m.source),
              `${m.source.pointer}/bindings/${i}/resource/table`,
              b.resource,
              `${m.endpoint.connector} bindings need resource.table`,
            );
          }
          tables.push(
            this.materializedTable(
              tableName,
              b.source.name,
              at(m.source),
              `${m.source.pointer}/bindings/${i}`,
            ),
          );
        });
        if (tables.length === 0) return;
        fn.role.addToPolicy(
          new iam.PolicyStatement({
            // Exactly the calls of shared/connectors/materialize-dynamodb.ts (DynamoTable): load, put, delete.
            actions: [
              // The connector's ensure step calls CreateTable and accepts ResourceInUseException; on
              // these exact ARNs (tables this stack already created) that can create nothing new.
              'dynamodb:CreateTable',
              'dynamodb:DescribeTable',
              'dynamodb:BatchGetItem',
              'dynamodb:PutItem',
              'dynamodb:DeleteItem',
            ],
            resources: tables.map((t) => t.tableArn),
          }),
        );
        return;
      }
    }
  }

  /** A materialize-dynamodb table: collection key → partition key (and sort key), like Estuary's connector. */
  private materializedTable(
    tableName: string,
    collection: string,
    location: string,
    pointer: string,
  ): dynamodb.TableV2 {
    const existing = this.materializedTables.get(tableName);
    if (existing) return existing;
    const spec = this.catalog.collections[collection];
    if (spec.key.length > 2) {
      throw new DeployUnsupportedError(
        'UnsupportedConnector',
        location,
        pointer,
        spec.key,
        `materialize-dynamodb supports collection keys of at most 2 locations; ${collection} has ${spec.key.length}`,
      );
    }
    const attr = (ptr: string): dynamodb.Attribute => ({
      name: keyFieldName(spec, ptr),
      type:
        keyAttributeType(this.catalog, spec, ptr) === 'N'
          ? dynamodb.AttributeType.NUMBER
          : dynamodb.AttributeType.STRING,
    });
    const scope =
      this.scopes.materializations.node.tryFindChild('Tables') ??
      new Construct(this.scopes.materializations, 'Tables');
    const table = new dynamodb.TableV2(scope, tableName, {
      tableName,
      partitionKey: attr(spec.key[0]),
      sortKey: spec.key.length > 1 ? attr(spec.key[1]) : undefined,
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.materializedTables.set(tableName, table);
    return table;
  }
}

/**
 * The prefix of a catalog's stream names: `<stack name>-<construct id>` (`Sluice-fraud-Flow`), unique
 * in an account and region as stack names are; within SLUICE_PREFIX's 40 letters, digits and dashes.
 */
function streamPrefixOf(flow: Construct): string | undefined {
  const stackName = Stack.of(flow).stackName;
  if (Token.isUnresolved(stackName)) return undefined;
  const base = `${stackName}-${flow.node.id}`.replace(/[^a-zA-Z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (base.length <= 40) return base;
  return `${base.slice(0, 31)}-${createHash('sha256').update(base).digest('hex').slice(0, 8)}`;
}
