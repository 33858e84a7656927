/**
 * CloudFormation intrinsics resolved against the local stack: `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
 * `Fn::Select`, `Fn::Split` and the pseudo parameters. Physical names are what CloudFormation would
 * generate when the template names none (`<stack>-<logicalId>`, within each service's length and
 * character rules), deterministic so that a restart finds the same streams, tables and buckets.
 */
import { createHash } from 'node:crypto';
import { AssemblyError } from './errors.ts';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: unknown;
}

export interface Intrinsics {
  /** Physical id (`Ref`) of a resource or pseudo parameter. */
  ref(id: string): string;
  getAtt(id: string, attr: string): string;
  /** A property value with every intrinsic replaced by a plain value. */
  resolve(v: unknown): unknown;
}

function cut(name: string, max: number): string {
  if (name.length <= max) return name;
  const h = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, max - 9)}-${h}`;
}

/** The physical name CloudFormation gives a resource of this type (or the name the template sets). */
export function physicalName(stack: string, id: string, r: CfnResource): string {
  const p = r.Properties ?? {};
  const explicit = (field: string) => (typeof p[field] === 'string' ? (p[field] as string) : undefined);
  const base = `${stack}-${id}`;
  switch (r.Type) {
    case 'AWS::Kinesis::Stream':
      return explicit('Name') ?? cut(base, 128);
    case 'AWS::DynamoDB::GlobalTable':
    case 'AWS::DynamoDB::Table':
      return explicit('TableName') ?? cut(base, 255);
    case 'AWS::S3::Bucket':
      return (
        explicit('BucketName') ??
        cut(
          base
            .toLowerCase()
            .replace(/[^a-z0-9.-]/g, '-')
            .replace(/^[^a-z0-9]+/, ''),
          63,
        )
      );
    case 'AWS::SQS::Queue':
      return explicit('QueueName') ?? cut(base, 80);
    case 'AWS::Lambda::Function':
      return explicit('FunctionName') ?? cut(base, 64);
    case 'AWS::IAM::Role':
      return explicit('RoleName') ?? cut(base, 64);
    case 'AWS::Events::Rule':
      return explicit('Name') ?? cut(base, 64);
    case 'AWS::Logs::LogGroup':
      return explicit('LogGroupName') ?? `/aws/lambda/${cut(base, 64)}`;
    default:
      return base;
  }
}

export function makeIntrinsics(
  stack: string,
  resources: Record<string, CfnResource>,
  env: { region: string; account: string },
): Intrinsics {
  const partition = 'aws';
  const pseudo: Record<string, string> = {
    'AWS::Partition': partition,
    'AWS::Region': env.region,
    'AWS::AccountId': env.account,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': stack,
    'AWS::StackId': `arn:${partition}:cloudformation:${env.region}:${env.account}:stack/${stack}/local`,
  };
  const name = (id: string) => {
    const r = resources[id];
    if (!r) throw new AssemblyError(stack, `Ref to ${id}: no such resource in the template`);
    return physicalName(stack, id, r);
  };
  const arnPrefix = (service: string) => `arn:${partition}:${service}:${env.region}:${env.account}`;

  const ref = (id: string): string => {
    if (id in pseudo) return pseudo[id];
    const r = resources[id];
    if (r?.Type === 'AWS::SQS::Queue')
      return `https://sqs.${env.region}.amazonaws.com/${env.account}/${name(id)}`;
    return name(id);
  };

  const getAtt = (id: string, attr: string): string => {
    const r = resources[id];
    if (!r) throw new AssemblyError(stack, `Fn::GetAtt ${id}.${attr}: no such resource in the template`);
    const n = name(id);
    const key = `${r.Type}.${attr}`;
    switch (key) {
      case 'AWS::Kinesis::Stream.Arn':
        return `${arnPrefix('kinesis')}:stream/${n}`;
      case 'AWS::DynamoDB::GlobalTable.Arn':
      case 'AWS::DynamoDB::Table.Arn':
        return `${arnPrefix('dynamodb')}:table/${n}`;
      case 'AWS::S3::Bucket.Arn':
        return `arn:${partition}:s3:::${n}`;
      case 'AWS::S3::Bucket.DomainName':
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${n}.s3.${env.region}.amazonaws.com`;
      case 'AWS::SQS::Queue.Arn':
        return `${arnPrefix('sqs')}:${n}`;
      case 'AWS::SQS::Queue.QueueName':
        return n;
      case 'AWS::SQS::Queue.QueueUrl':
        return ref(id);
      case 'AWS::Lambda::Function.Arn':
        return `${arnPrefix('lambda')}:function:${n}`;
      case 'AWS::IAM::Role.Arn':
        return `arn:${partition}:iam::${env.account}:role/${n}`;
      case 'AWS::IAM::Role.RoleId':
        return `AROA${createHash('sha256').update(n).digest('hex').slice(0, 17).toUpperCase()}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `${arnPrefix('logs')}:log-group:${n}:*`;
      case 'AWS::Events::Rule.Arn':
        return `${arnPrefix('events')}:rule/${n}`;
      case 'AWS::Lambda::Url.FunctionUrl':
        return `http://127.0.0.1/${id}/`;
      case 'AWS::Lambda::Url.FunctionArn': {
        const target = resolve(r.Properties?.TargetFunctionArn);
        return String(target);
      }
      default:
        // Attributes nothing local reads (dashboards, alarms): a stable placeholder, never a crash.
        return `local:${id}.${attr}`;
    }
  };

  const sub = (template: string, vars: Record<string, unknown>): string =>
    template.replace(/\$\{([^}!][^}]*)\}/g, (_, expr: string) => {
      if (expr in vars) return String(resolve(vars[expr]));
      const dot = expr.indexOf('.');
      if (dot > 0 && !(expr in pseudo)) return getAtt(expr.slice(0, dot), expr.slice(dot + 1));
      return ref(expr);
    });

  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = o[k];
      switch (k) {
        case 'Ref':
          return ref(String(arg));
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
          return getAtt(String(id), String(resolve(attr)));
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown[]];
          return (resolve(parts) as unknown[]).map(String).join(sep);
        }
        case 'Fn::Sub':
          if (typeof arg === 'string') return sub(arg, {});
          return sub(String((arg as unknown[])[0]), ((arg as unknown[])[1] ?? {}) as Record<string, unknown>);
        case 'Fn::Select': {
          const [i, list] = arg as [unknown, unknown];
          return (resolve(list) as unknown[])[Number(resolve(i))];
        }
        case 'Fn::Split': {
          const [sep, s] = arg as [string, unknown];
          return String(resolve(s)).split(sep);
        }
        case 'Fn::ImportValue':
        case 'Fn::If':
        case 'Fn::FindInMap':
        case 'Fn::GetAZs':
          throw new AssemblyError(stack, `${k} is not supported by the local stack (${JSON.stringify(arg)})`);
      }
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
  };

  return { ref, getAtt, resolve };
}
