/**
 * One Lambda function of a Sluice task: esbuild bundle of one entry (local esbuild, no Docker), ESM,
 * minified, arm64, with the built catalog shipped next to the bundle as `catalog.json` (no YAML parsing
 * at cold start), structured JSON logs and Powertools metrics settings, and a role that starts with
 * nothing but writing its own log group. Callers grant the rest, resource by resource.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssetHashType, DockerImage, type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import { shippedCatalogJson } from '../shared/catalog/task-catalog.ts';
import { SQLITE_WASM_ENV, SQLITE_WASM_FILE, sqlWasmPath } from '../shared/derive/sqlite/sql-js.ts';
import { SluiceError } from '../shared/errors.ts';
import { SLUICE_ROOT } from '../shared/package-root.ts';
import {
  derivationModuleBundle,
  entryPath,
  type FunctionKind,
  kindBundle,
  moduleFingerprint,
} from './bundling.ts';

const APPLICATION_LOG_LEVEL = {
  error: lambda.ApplicationLogLevel.ERROR,
  warn: lambda.ApplicationLogLevel.WARN,
  info: lambda.ApplicationLogLevel.INFO,
  debug: lambda.ApplicationLogLevel.DEBUG,
  trace: lambda.ApplicationLogLevel.TRACE,
} as const;

/** Where the derivation module is shipped inside a derive function's bundle. */
export const DERIVATION_MODULE_FILE = 'derivation.mjs';
/** The Lambda task root (LAMBDA_TASK_ROOT), where the bundle and catalog.json land. */
export const LAMBDA_TASK_ROOT = '/var/task';

export class MissingEntryError extends SluiceError {
  readonly code = 'MissingEntry';
  constructor(
    readonly kind: FunctionKind,
    readonly entry: string,
    readonly task: string,
  ) {
    super(
      `${entry}: the ${kind} handler entry for ${task} does not exist; it must exist to bundle the function`,
    );
    this.name = 'MissingEntryError';
  }
}

export interface SluiceFunctionProps {
  kind: FunctionKind;
  /** What this function runs, for the description and POWERTOOLS_SERVICE_NAME (e.g. `derivation:acme/totals`). */
  task: string;
  /** The catalog shipped with the bundle (already adjusted for this function, see shipCatalog). */
  catalog: BuiltCatalog;
  environment: Record<string, string>;
  metricsNamespace: string;
  memorySize: number;
  timeout: Duration;
  logRetention: logs.RetentionDays;
  /** Absolute path of a TypeScript derivation module to bundle as DERIVATION_MODULE_FILE. */
  derivationModule?: string;
  /** The module's import map (`flow/` → generated types), applied as tsconfig paths when bundling it. */
  derivationImports?: Record<string, string>;
  /** A SQLite derivation: ship sql.js's WASM beside the bundle (SQLITE_WASM_FILE). */
  sqlite?: boolean;
  reservedConcurrentExecutions?: number;
  /** Estuary's `shards.logLevel` (default info): Powertools' level and Lambda's application log level. */
  logLevel?: 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Run in this VPC (with its subnets and security groups). @default outside any VPC */
  vpc?: { vpc: ec2.IVpc; subnets?: ec2.SubnetSelection; securityGroups?: ec2.ISecurityGroup[] };
}

/**
 * A function's code: its kind's bundle (`index.mjs`, the same for every function of the kind), its
 * derivation module and sql.js's WASM where it has them, and its own `catalog.json`, written into the
 * asset folder by esbuild running in this process (infra/bundling.ts). The catalog never passes through
 * a file elsewhere: it may hold endpoint configs.
 */
function functionCode(props: SluiceFunctionProps): lambda.Code {
  // The same bytes from any checkout (task-catalog.ts): the asset's hash does not name the folder.
  const catalogJson = shippedCatalogJson(props.catalog);
  // What the asset is made of. CDK's cache of staged assets (one per process) is keyed by the bundling
  // options, so this names it: two functions share an asset only if they ship the same files.
  const recipe = {
    kind: props.kind,
    catalog: createHash('sha256').update(catalogJson).digest('hex'),
    module: props.derivationModule ? moduleFingerprint(props.derivationModule) : null,
    imports: props.derivationImports ?? null,
    sqlite: props.sqlite === true,
  };
  return lambda.Code.fromAsset(SLUICE_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never run: bundling is local, as NodejsFunction does when esbuild is installed (it is a dependency).
      image: DockerImage.fromRegistry('dummy'),
      command: ['sluice-bundle', JSON.stringify(recipe)],
      local: {
        tryBundle(outputDir: string): boolean {
          writeFileSync(join(outputDir, 'index.mjs'), kindBundle(props.kind));
          // Readable by Lambda's runtime user whatever the umask.
          writeFileSync(join(outputDir, 'catalog.json'), catalogJson, { mode: 0o644 });
          chmodSync(join(outputDir, 'catalog.json'), 0o644);
          if (props.derivationModule)
            writeFileSync(
              join(outputDir, DERIVATION_MODULE_FILE),
              derivationModuleBundle(props.derivationModule, props.derivationImports),
            );
          if (props.sqlite) copyFileSync(sqlWasmPath(), join(outputDir, SQLITE_WASM_FILE));
          return true;
        },
      },
    },
  });
}

export class SluiceFunction extends Construct {
  readonly fn: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The catalog shipped as `catalog.json` (its own task's part only). */
  readonly catalog: BuiltCatalog;

  constructor(scope: Construct, id: string, props: SluiceFunctionProps) {
    super(scope, id);
    this.catalog = props.catalog;
    // Retained on `cdk destroy`: the logs are the record of what a halted or parked task did.
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Sluice ${props.task}`,
    });
    // Only its own log group: no AWSLambdaBasicExecutionRole (which allows every log group).
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${this.logGroup.logGroupArn}`],
      }),
    );

    const entry = entryPath(props.kind);
    if (!existsSync(entry)) throw new MissingEntryError(props.kind, entry, props.task);
    const derivationModule = props.derivationModule;
    this.fn = new lambda.Function(this, 'Function', {
      code: functionCode(props),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      ...(props.logLevel ? { applicationLogLevelV2: APPLICATION_LOG_LEVEL[props.logLevel] } : {}),
      description: `Sluice ${props.task}`,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      ...(props.vpc
        ? { vpc: props.vpc.vpc, vpcSubnets: props.vpc.subnets, securityGroups: props.vpc.securityGroups }
        : {}),
      environment: {
        SLUICE_CATALOG: './catalog.json',
        POWERTOOLS_SERVICE_NAME: props.task,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        POWERTOOLS_LOG_LEVEL: (props.logLevel ?? 'info').toUpperCase(),
        ...(derivationModule
          ? { SLUICE_DERIVATION_MODULE: `${LAMBDA_TASK_ROOT}/${DERIVATION_MODULE_FILE}` }
          : {}),
        ...(props.sqlite ? { [SQLITE_WASM_ENV]: `${LAMBDA_TASK_ROOT}/${SQLITE_WASM_FILE}` } : {}),
        ...props.environment,
      },
    });
    if (props.vpc) {
      // Lambda adds AWSLambdaVPCAccessExecutionRole to a VPC function's role: the network interfaces Lambda
      // itself creates in the VPC. AWS scopes it; there is no narrower managed or resource-level form.
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason: 'Lambda needs it to attach the function to the VPC (ENI management), as AWS documents.',
      });
    }
  }
}
