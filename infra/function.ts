/**
 * One Lambda function of a Sluice task: esbuild bundle of one entry (local esbuild, no Docker), ESM,
 * minified, arm64, with the built catalog shipped next to the bundle as `catalog.json` (no YAML parsing
 * at cold start), structured JSON logs and Powertools metrics settings, and a role that starts with
 * nothing but writing its own log group. Callers grant the rest, resource by resource.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { tsconfigPaths } from '../shared/catalog/derive-using.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import { SQLITE_WASM_ENV, SQLITE_WASM_FILE, sqlWasmPath } from '../shared/derive/sqlite/sql-js.ts';
import { SluiceError } from '../shared/errors.ts';
import {
  ESBUILD_TARGET,
  ESM_REQUIRE_BANNER,
  EXTERNAL_MODULES,
  entryPath,
  type FunctionKind,
  SLUICE_ROOT,
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
 * A folder under the OS temp folder that only this user can read: the staged catalogs hold endpoint
 * configs (secret references, hosts, user names). A folder of that name that is not ours (another user
 * could create it first to read what we stage) is never used: a fresh private one is made instead.
 */
function privateStagingDir(): string {
  const uid = process.getuid?.();
  const dir = join(tmpdir(), `sluice-cdk-catalogs-${uid ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid))
    return mkdtempSync(join(tmpdir(), 'sluice-cdk-catalogs-'));
  chmodSync(dir, 0o700);
  return dir;
}

/**
 * Write a catalog to a content-addressed file (so the asset hash follows the catalog), readable by this
 * user only (mode 0600, in a 0700 folder), and return its path.
 */
export function stageCatalogFile(catalog: BuiltCatalog): string {
  const text = JSON.stringify(catalog);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 24);
  const file = join(privateStagingDir(), `${hash}.json`);
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600); // writeFileSync's mode applies only when it creates the file
  return file;
}

/** A content-addressed tsconfig holding an import map as `paths`, for the esbuild CLI's `--tsconfig`. */
function stageTsconfig(imports: Record<string, string>): string {
  const text = JSON.stringify({ compilerOptions: { baseUrl: '/', paths: tsconfigPaths(imports) } });
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 24);
  const dir = join(tmpdir(), 'sluice-cdk-tsconfigs');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${hash}.json`);
  writeFileSync(file, text);
  return file;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

function esbuildBin(): string {
  const require = createRequire(import.meta.url);
  return join(require.resolve('esbuild/package.json'), '..', 'bin', 'esbuild');
}

/**
 * The lock file NodejsFunction requires. An installed Sluice package has none (npm never packs
 * package-lock.json); the lock file only selects the package manager for `nodeModules`, which these
 * functions do not use, so package.json stands in for it.
 */
function lockFile(): string {
  const lock = join(SLUICE_ROOT, 'package-lock.json');
  return existsSync(lock) ? lock : join(SLUICE_ROOT, 'package.json');
}

export class SluiceFunction extends Construct {
  readonly fn: NodejsFunction;
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
    const catalogFile = stageCatalogFile(props.catalog);
    const derivationModule = props.derivationModule;
    this.fn = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      projectRoot: SLUICE_ROOT,
      depsLockFilePath: lockFile(),
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
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        sourceMap: false,
        target: ESBUILD_TARGET,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        externalModules: EXTERNAL_MODULES,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => {
            const shippedFile = shellQuote(join(outputDir, 'catalog.json'));
            // The staged file is 0600; in the asset it must be readable by Lambda's runtime user.
            const cmds = [`cp ${shellQuote(catalogFile)} ${shippedFile}`, `chmod 644 ${shippedFile}`];
            if (derivationModule) {
              cmds.push(
                [
                  shellQuote(esbuildBin()),
                  shellQuote(derivationModule),
                  '--bundle',
                  '--platform=node',
                  '--format=esm',
                  `--target=${ESBUILD_TARGET}`,
                  '--minify',
                  `--banner:js=${shellQuote(ESM_REQUIRE_BANNER)}`,
                  ...EXTERNAL_MODULES.map((m) => `--external:${shellQuote(m)}`),
                  ...(props.derivationImports
                    ? [`--tsconfig=${shellQuote(stageTsconfig(props.derivationImports))}`]
                    : []),
                  '--log-level=warning',
                  `--outfile=${shellQuote(join(outputDir, DERIVATION_MODULE_FILE))}`,
                ].join(' '),
              );
            }
            if (props.sqlite) {
              cmds.push(`cp ${shellQuote(sqlWasmPath())} ${shellQuote(join(outputDir, SQLITE_WASM_FILE))}`);
            }
            return cmds;
          },
        },
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
