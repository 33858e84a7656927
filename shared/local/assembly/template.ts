/**
 * A synthesized cloud assembly (`cdk synth -o DIR`), read as the local stack needs it: the stack's
 * template, with every resource the local stack provisions or runs picked out and its intrinsics
 * resolved against local physical names (intrinsics.ts). Nothing here knows the catalog: what runs
 * locally is exactly what the template says will be deployed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PolicyDocument } from '../iam/policy.ts';
import { AssemblyError } from './errors.ts';
import { type CfnResource, type Intrinsics, makeIntrinsics } from './intrinsics.ts';
import { flattenNested } from './nested.ts';

interface Manifest {
  artifacts?: Record<
    string,
    { type: string; displayName?: string; properties?: { templateFile?: string }; environment?: string }
  >;
}

export interface StreamResource {
  logicalId: string;
  name: string;
  arn: string;
  /** Provisioned shard count; undefined for on-demand streams. */
  shardCount?: number;
}

export interface TableResource {
  logicalId: string;
  name: string;
  arn: string;
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  attributes: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
}

export interface BucketResource {
  logicalId: string;
  name: string;
  arn: string;
}

export interface QueueResource {
  logicalId: string;
  name: string;
  arn: string;
  url: string;
}

export interface FunctionResource {
  logicalId: string;
  name: string;
  arn: string;
  /** Absolute path of the function's asset folder (what would be zipped and uploaded). */
  assetDir: string;
  /** `index.handler` → file `index`, export `handler`. */
  handler: string;
  memoryMb: number;
  timeoutSeconds: number;
  environment: Record<string, string>;
  roleArn: string;
  roleLogicalId: string | undefined;
  reservedConcurrency?: number;
  description?: string;
}

export interface MappingResource {
  logicalId: string;
  functionLogicalId: string;
  streamLogicalId: string;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  bisectOnError: boolean;
  /** -1: retry until the record expires (AWS's default). */
  maxRetryAttempts: number;
  /** -1: no age limit (AWS's default). */
  maxRecordAgeSeconds: number;
  parallelizationFactor: number;
  reportBatchItemFailures: boolean;
  startingPosition: string;
  onFailureArn?: string;
  enabled: boolean;
}

export interface RuleResource {
  logicalId: string;
  name: string;
  arn: string;
  /** `rate(5 minutes)` / `cron(...)`; undefined for event-pattern rules. */
  schedule?: string;
  eventPattern?: Record<string, unknown>;
  targets: {
    functionLogicalId: string;
    deadLetterArn?: string;
    retryAttempts?: number;
    /** The target's constant `Input` (JSON): sent instead of the event, as EventBridge does. */
    input?: unknown;
  }[];
  enabled: boolean;
}

export interface UrlResource {
  logicalId: string;
  functionLogicalId: string;
  authType: 'AWS_IAM' | 'NONE';
}

export interface RolePolicies {
  roleLogicalId: string;
  roleArn: string;
  policies: PolicyDocument[];
}

export interface StackTemplate {
  dir: string;
  stackName: string;
  region: string;
  account: string;
  resources: Record<string, CfnResource>;
  intrinsics: Intrinsics;
  streams: StreamResource[];
  tables: TableResource[];
  buckets: BucketResource[];
  queues: QueueResource[];
  functions: FunctionResource[];
  mappings: MappingResource[];
  rules: RuleResource[];
  urls: UrlResource[];
  roles: Map<string, RolePolicies>;
}

/** Stacks of an assembly (`aws:cloudformation:stack` artifacts), by name. */
export function assemblyStacks(dir: string): { name: string; templateFile: string }[] {
  const manifestFile = join(dir, 'manifest.json');
  if (!existsSync(manifestFile))
    throw new AssemblyError(dir, `no manifest.json: not a cloud assembly (made by cdk synth -o ${dir})`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  return Object.entries(manifest.artifacts ?? {})
    .filter(([, a]) => a.type === 'aws:cloudformation:stack' && a.properties?.templateFile)
    .map(([id, a]) => ({ name: a.displayName ?? id, templateFile: join(dir, a.properties!.templateFile!) }));
}

function num(v: unknown, dflt: number): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : dflt;
}

function refOf(v: unknown): string | undefined {
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string') return o.Ref;
    const g = o['Fn::GetAtt'];
    if (Array.isArray(g) && typeof g[0] === 'string') return g[0];
  }
  return undefined;
}

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

/**
 * Read the stack `stackName` (default: the only stack) of the assembly in `dir`. `names` lets the caller
 * give physical names (tests); by default they derive from the stack name and logical ids, as
 * CloudFormation's generated names do.
 */
export function readStackTemplate(dir: string, stackName?: string): StackTemplate {
  const abs = resolve(dir);
  const stacks = assemblyStacks(abs);
  const stack = stackName ? stacks.find((s) => s.name === stackName) : stacks[0];
  if (!stack)
    throw new AssemblyError(
      abs,
      stackName
        ? `no stack named ${stackName} (stacks: ${stacks.map((s) => s.name).join(', ') || 'none'})`
        : 'the assembly has no stack',
    );
  if (!stackName && stacks.length > 1)
    throw new AssemblyError(
      abs,
      `the assembly has ${stacks.length} stacks (${stacks.map((s) => s.name).join(', ')}): pick one with --stack`,
    );
  const tpl = JSON.parse(readFileSync(stack.templateFile, 'utf8')) as {
    Resources?: Record<string, CfnResource>;
  };
  // Persisters deploy as nested stacks: run them as the parent's resources (nested.ts).
  const resources = flattenNested(abs, tpl, stack.name);
  const x = makeIntrinsics(stack.name, resources, { region: LOCAL_REGION, account: LOCAL_ACCOUNT });
  const out: StackTemplate = {
    dir: abs,
    stackName: stack.name,
    region: LOCAL_REGION,
    account: LOCAL_ACCOUNT,
    resources,
    intrinsics: x,
    streams: [],
    tables: [],
    buckets: [],
    queues: [],
    functions: [],
    mappings: [],
    rules: [],
    urls: [],
    roles: new Map(),
  };
  for (const [id, r] of Object.entries(resources)) {
    const p = (r.Properties ?? {}) as Record<string, unknown>;
    switch (r.Type) {
      case 'AWS::Kinesis::Stream':
        out.streams.push({
          logicalId: id,
          name: x.ref(id),
          arn: x.getAtt(id, 'Arn'),
          shardCount: p.ShardCount === undefined ? undefined : num(x.resolve(p.ShardCount), 1),
        });
        break;
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
        out.tables.push({
          logicalId: id,
          name: x.ref(id),
          arn: x.getAtt(id, 'Arn'),
          keySchema: x.resolve(p.KeySchema) as TableResource['keySchema'],
          attributes: x.resolve(p.AttributeDefinitions) as TableResource['attributes'],
        });
        break;
      case 'AWS::S3::Bucket':
        out.buckets.push({ logicalId: id, name: x.ref(id), arn: x.getAtt(id, 'Arn') });
        break;
      case 'AWS::SQS::Queue':
        out.queues.push({
          logicalId: id,
          name: x.getAtt(id, 'QueueName'),
          arn: x.getAtt(id, 'Arn'),
          url: x.ref(id),
        });
        break;
      case 'AWS::Lambda::Function': {
        const asset = r.Metadata?.['aws:asset:path'];
        if (typeof asset !== 'string')
          throw new AssemblyError(
            abs,
            `function ${id} has no aws:asset:path metadata: synthesize with asset metadata (the default)`,
          );
        const env = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
          {}) as Record<string, unknown>;
        const role = p.Role;
        out.functions.push({
          logicalId: id,
          name: x.ref(id),
          arn: x.getAtt(id, 'Arn'),
          assetDir: join(abs, asset),
          handler: String(p.Handler ?? 'index.handler'),
          memoryMb: num(p.MemorySize, 128),
          timeoutSeconds: num(p.Timeout, 3),
          environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(x.resolve(v))])),
          roleArn: String(x.resolve(role)),
          roleLogicalId: refOf(role),
          reservedConcurrency:
            p.ReservedConcurrentExecutions === undefined ? undefined : num(p.ReservedConcurrentExecutions, 1),
          description: typeof p.Description === 'string' ? p.Description : undefined,
        });
        break;
      }
      case 'AWS::Lambda::EventSourceMapping': {
        const fn = refOf(p.FunctionName);
        const stream = refOf(p.EventSourceArn);
        if (!fn || !stream || resources[stream]?.Type !== 'AWS::Kinesis::Stream') break;
        const dest = (p.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure
          ?.Destination;
        out.mappings.push({
          logicalId: id,
          functionLogicalId: fn,
          streamLogicalId: stream,
          batchSize: num(p.BatchSize, 100),
          maxBatchingWindowSeconds: num(p.MaximumBatchingWindowInSeconds, 0),
          bisectOnError: p.BisectBatchOnFunctionError === true,
          maxRetryAttempts: num(p.MaximumRetryAttempts, -1),
          maxRecordAgeSeconds: num(p.MaximumRecordAgeInSeconds, -1),
          parallelizationFactor: num(p.ParallelizationFactor, 1),
          reportBatchItemFailures:
            Array.isArray(p.FunctionResponseTypes) &&
            p.FunctionResponseTypes.includes('ReportBatchItemFailures'),
          startingPosition: String(p.StartingPosition ?? 'TRIM_HORIZON'),
          onFailureArn: dest === undefined ? undefined : String(x.resolve(dest)),
          enabled: p.Enabled !== false,
        });
        break;
      }
      case 'AWS::Events::Rule': {
        const targets = (Array.isArray(p.Targets) ? p.Targets : []) as Record<string, unknown>[];
        out.rules.push({
          logicalId: id,
          name: x.ref(id),
          arn: x.getAtt(id, 'Arn'),
          schedule: typeof p.ScheduleExpression === 'string' ? p.ScheduleExpression : undefined,
          eventPattern: p.EventPattern ? (x.resolve(p.EventPattern) as Record<string, unknown>) : undefined,
          enabled: p.State === undefined || p.State === 'ENABLED',
          targets: targets.flatMap((t) => {
            const fn = refOf(t.Arn);
            if (!fn || resources[fn]?.Type !== 'AWS::Lambda::Function') return [];
            const dlq = (t.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn;
            const retry = (t.RetryPolicy as { MaximumRetryAttempts?: unknown } | undefined)
              ?.MaximumRetryAttempts;
            return [
              {
                functionLogicalId: fn,
                deadLetterArn: dlq === undefined ? undefined : String(x.resolve(dlq)),
                retryAttempts: retry === undefined ? undefined : num(retry, 185),
                input: typeof t.Input === 'string' ? (JSON.parse(t.Input) as unknown) : undefined,
              },
            ];
          }),
        });
        break;
      }
      case 'AWS::Lambda::Url': {
        const fn = refOf(p.TargetFunctionArn);
        if (fn)
          out.urls.push({
            logicalId: id,
            functionLogicalId: fn,
            authType: p.AuthType === 'NONE' ? 'NONE' : 'AWS_IAM',
          });
        break;
      }
      case 'AWS::IAM::Role': {
        const role = rolePolicies(out, id, x);
        const inline = (Array.isArray(p.Policies) ? p.Policies : []) as { PolicyDocument?: unknown }[];
        for (const pol of inline)
          if (pol.PolicyDocument) role.policies.push(x.resolve(pol.PolicyDocument) as PolicyDocument);
        break;
      }
      // CDK splits a role's policy too large for one inline policy into managed ones (OverflowPolicyN).
      case 'AWS::IAM::ManagedPolicy':
      case 'AWS::IAM::Policy': {
        const doc = x.resolve(p.PolicyDocument) as PolicyDocument;
        for (const ref of (Array.isArray(p.Roles) ? p.Roles : []) as unknown[]) {
          const roleId = refOf(ref);
          if (roleId) rolePolicies(out, roleId, x).policies.push(doc);
        }
        break;
      }
    }
  }
  return out;
}

function rolePolicies(t: StackTemplate, roleId: string, x: Intrinsics): RolePolicies {
  let r = t.roles.get(roleId);
  if (!r) {
    r = { roleLogicalId: roleId, roleArn: x.getAtt(roleId, 'Arn'), policies: [] };
    t.roles.set(roleId, r);
  }
  return r;
}
