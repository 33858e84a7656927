/**
 * What IAM authorizes for one raw HTTP call an AWS SDK v3 client makes against the local emulators
 * (kinesalite, dynalite, s3rver), so the per-function proxy can check it against the function's role:
 * the action, the resource ARN and the condition keys Sluice's grants use (dynamodb:LeadingKeys,
 * s3:prefix...), as the Service Authorization Reference lists them. A call this module cannot map with
 * confidence throws RequestMappingError instead of being mapped to something that might be allowed: the
 * proxy then refuses it, which is the safe side for a permission check.
 */
import { createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { SluiceError } from '../../errors.ts';
import type { Decision, IamRequest } from './policy.ts';

export type Service = 'kinesis' | 'dynamodb' | 's3';

export interface HttpCall {
  method: string;
  /** Raw path incl. percent-escapes, without query. */
  path: string;
  query: URLSearchParams;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  /**
   * The body parsed as JSON, kept by the first reader (jsonBody) for the others on the same call (the
   * metering, observers): a 1 MiB PutRecords body was parsed three times. Read-only.
   */
  json?: Record<string, unknown>;
}

export interface ArnEnv {
  partition: string;
  region: string;
  account: string;
  /**
   * Hash (partition) key attribute name of a DynamoDB table, for dynamodb:LeadingKeys; for a Query or
   * Scan on an index it is asked with `<table>/index/<index>` (whose partition key LeadingKeys then is).
   */
  hashKeyOf(table: string): string | undefined;
}

export class RequestMappingError extends SluiceError {
  readonly code = 'UnmappableRequest';
  constructor(
    readonly service: Service | undefined,
    detail: string,
  ) {
    super(`cannot tell what IAM must authorize for this ${service ?? 'AWS'} call: ${detail}`);
    this.name = 'RequestMappingError';
  }
}

const SERVICES: readonly Service[] = ['kinesis', 'dynamodb', 's3'];

/** The service a call is for: from the SigV4 Authorization header's credential scope (…/<date>/<region>/<service>/aws4_request), else X-Amz-Target prefix (Kinesis_20131202 / DynamoDB_20120810), else s3. */
export function serviceOf(call: HttpCall): Service {
  // Presigned URLs carry the credential in the query instead of the header.
  const credential =
    /Credential=([^,\s]+)/.exec(call.headers.authorization ?? '')?.[1] ?? call.query.get('X-Amz-Credential');
  if (credential) {
    const scope = credential.split('/');
    const service = scope[scope.length - 2];
    if ((SERVICES as readonly string[]).includes(service)) return service as Service;
    throw new RequestMappingError(undefined, `credential scope names service "${service}"`);
  }
  const target = call.headers['x-amz-target'] ?? '';
  if (target.startsWith('Kinesis_')) return 'kinesis';
  if (target.startsWith('DynamoDB_')) return 'dynamodb';
  return 's3';
}

/** Every (action, resource, context) the call needs; e.g. a BatchWriteItem over two tables → one per table. */
export function iamRequestsOf(service: Service, call: HttpCall, env: ArnEnv): IamRequest[] {
  switch (service) {
    case 'kinesis':
      return kinesisRequests(call, env);
    case 'dynamodb':
      return dynamodbRequests(call, env);
    case 's3':
      return s3Requests(call, env);
  }
}

// ------------------------------------------------------------------ JSON protocols

type Json = Record<string, unknown>;

function operationOf(service: Service, call: HttpCall, prefix: string): string {
  const target = call.headers['x-amz-target'] ?? '';
  const [p, op] = target.split('.');
  if (p !== prefix || !op) throw new RequestMappingError(service, `x-amz-target is "${target}"`);
  return op;
}

function jsonBody(service: Service, call: HttpCall): Json {
  if (call.json) return call.json;
  if (call.body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(call.body.toString('utf8'));
  } catch (e) {
    throw new RequestMappingError(service, `body is not JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new RequestMappingError(service, 'body is not a JSON object');
  call.json = parsed as Json;
  return call.json;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// ------------------------------------------------------------------ Kinesis

/**
 * kinesalite's shard iterators are AES-256-CBC over `<time>/<stream>/<shard>/<seq>/...` with fixed key
 * and IV (kinesalite/db/index.js, ITERATOR_PWD_KEY/_IV). GetRecords usually carries only the iterator,
 * and IAM authorizes it on the stream, so the stream name has to come from there.
 */
const KINESALITE_ITERATOR_KEY = Buffer.from(
  '1133a5a833666b49abf28c8ba302930f0b2fb240dccd43cf4dfbc0ca91f17751',
  'hex',
);
const KINESALITE_ITERATOR_IV = Buffer.from('7bf139dbabbea2d9995d6fcae1dff7da', 'hex');

function streamOfIterator(iterator: string): string | undefined {
  try {
    const raw = Buffer.from(iterator, 'base64');
    const d = createDecipheriv('aes-256-cbc', KINESALITE_ITERATOR_KEY, KINESALITE_ITERATOR_IV);
    const plain = Buffer.concat([d.update(raw.subarray(8)), d.final()]).toString('utf8');
    return str(plain.split('/')[1]);
  } catch {
    return undefined;
  }
}

/** Operations that name no stream (the Service Authorization Reference lists no resource for them). */
const KINESIS_ACCOUNT_OPS = new Set([
  'ListStreams',
  'DescribeLimits',
  'DescribeAccountSettings',
  'UpdateAccountSettings',
]);

function kinesisRequests(call: HttpCall, env: ArnEnv): IamRequest[] {
  const op = operationOf('kinesis', call, 'Kinesis_20131202');
  const body = jsonBody('kinesis', call);
  const action = `kinesis:${op}`;
  if (KINESIS_ACCOUNT_OPS.has(op)) return [{ action, resource: '*' }];
  const arn =
    str(body.StreamARN) ??
    str(body.ConsumerARN) ??
    str(body.ResourceARN) ??
    (str(body.StreamName) &&
      `arn:${env.partition}:kinesis:${env.region}:${env.account}:stream/${body.StreamName}`);
  if (arn) return [{ action, resource: arn }];
  const fromIterator =
    typeof body.ShardIterator === 'string' ? streamOfIterator(body.ShardIterator) : undefined;
  if (fromIterator)
    return [
      {
        action,
        resource: `arn:${env.partition}:kinesis:${env.region}:${env.account}:stream/${fromIterator}`,
      },
    ];
  throw new RequestMappingError(
    'kinesis',
    `${op} names no stream (no StreamName, StreamARN or readable iterator)`,
  );
}

// ------------------------------------------------------------------ DynamoDB

type AttributeValue = Record<string, unknown>;

/** LeadingKeys holds the partition key as a string: S as is, N as written, B as its base64. */
function keyString(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const a = v as AttributeValue;
  for (const t of ['S', 'N', 'B'] as const) if (typeof a[t] === 'string') return a[t] as string;
  return undefined;
}

interface TableRef {
  /** Table name as IAM sees it in the ARN. */
  name: string;
  arn: string;
}

function tableRef(nameOrArn: unknown, env: ArnEnv, op: string): TableRef {
  const s = str(nameOrArn);
  if (!s) throw new RequestMappingError('dynamodb', `${op} has no TableName`);
  // The API also accepts a table ARN wherever it takes a table name.
  if (s.startsWith('arn:')) {
    const m = /:table\/([^/]+)/.exec(s);
    if (!m) throw new RequestMappingError('dynamodb', `${op} names "${s}", which is not a table ARN`);
    return { name: m[1], arn: s };
  }
  return { name: s, arn: `arn:${env.partition}:dynamodb:${env.region}:${env.account}:table/${s}` };
}

function hashKey(env: ArnEnv, table: string, op: string): string {
  const k = env.hashKeyOf(table);
  if (!k)
    throw new RequestMappingError('dynamodb', `${op}: the partition key of table "${table}" is not known`);
  return k;
}

/** The partition-key value of a Key or Item map. */
function leadingKeyOf(item: unknown, env: ArnEnv, table: string, op: string): string {
  if (item === null || typeof item !== 'object')
    throw new RequestMappingError('dynamodb', `${op} on "${table}" carries no key`);
  const attrs = item as Record<string, unknown>;
  const names = Object.keys(attrs);
  // A one-attribute Key can only be the partition key; anything else needs the table's key schema.
  const name = names.length === 1 && env.hashKeyOf(table) === undefined ? names[0] : hashKey(env, table, op);
  const v = keyString(attrs[name]);
  if (v === undefined)
    throw new RequestMappingError(
      'dynamodb',
      `${op} on "${table}" has no S, N or B value for partition key "${name}"`,
    );
  return v;
}

/** The value the partition key is compared to with `=` in a KeyConditionExpression or KeyConditions. */
function queryLeadingKey(body: Json, env: ArnEnv, keyOwner: string): string {
  const equalities: Array<[string, unknown]> = [];
  const expr = str(body.KeyConditionExpression);
  if (expr) {
    const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (body.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    const operand = '(#[A-Za-z0-9_]+|:[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*)';
    // `<`/`>` cannot sit between an operand and `=` here, so `<=` and `>=` never match.
    const re = new RegExp(`${operand}\\s*=\\s*${operand}`, 'g');
    for (const m of expr.matchAll(re)) {
      const [a, b] = m[1].startsWith(':') ? [m[2], m[1]] : [m[1], m[2]];
      if (!b.startsWith(':') || a.startsWith(':')) continue;
      const attr = a.startsWith('#') ? names[a] : a;
      if (attr === undefined)
        throw new RequestMappingError('dynamodb', `Query: ${a} is not in ExpressionAttributeNames`);
      equalities.push([attr, values[b]]);
    }
  } else if (body.KeyConditions && typeof body.KeyConditions === 'object') {
    for (const [attr, c] of Object.entries(body.KeyConditions as Record<string, Json>))
      if (c?.ComparisonOperator === 'EQ' && Array.isArray(c.AttributeValueList))
        equalities.push([attr, c.AttributeValueList[0]]);
  }
  const known = env.hashKeyOf(keyOwner);
  const hit = known !== undefined ? equalities.filter(([a]) => a === known) : equalities;
  if (hit.length !== 1)
    throw new RequestMappingError(
      'dynamodb',
      `Query on "${keyOwner}": cannot find the one equality on the partition key${known ? ` "${known}"` : ''}`,
    );
  const v = keyString(hit[0][1]);
  if (v === undefined)
    throw new RequestMappingError('dynamodb', `Query on "${keyOwner}": partition key value is not S, N or B`);
  return v;
}

const unique = (xs: string[]) => [...new Set(xs)];

/** Operations on the account rather than a table. */
const DYNAMODB_ACCOUNT_OPS = new Set([
  'ListTables',
  'DescribeLimits',
  'DescribeEndpoints',
  'ListBackups',
  'ListGlobalTables',
  'ListExports',
  'ListImports',
  'ListContributorInsights',
]);

/** PartiQL is authorized per statement kind (dynamodb:PartiQLSelect...), which needs a SQL parser. */
const DYNAMODB_UNSUPPORTED = new Set(['ExecuteStatement', 'BatchExecuteStatement', 'ExecuteTransaction']);

const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

function dynamodbRequests(call: HttpCall, env: ArnEnv): IamRequest[] {
  const op = operationOf('dynamodb', call, 'DynamoDB_20120810');
  const body = jsonBody('dynamodb', call);
  const action = `dynamodb:${op}`;
  const leading = (keys: string[]) => ({ 'dynamodb:LeadingKeys': unique(keys) });
  if (DYNAMODB_UNSUPPORTED.has(op))
    throw new RequestMappingError('dynamodb', `${op} (PartiQL) is not supported`);
  if (DYNAMODB_ACCOUNT_OPS.has(op)) return [{ action, resource: '*' }];
  switch (op) {
    case 'GetItem':
    case 'DeleteItem':
    case 'UpdateItem':
    case 'PutItem': {
      const t = tableRef(body.TableName, env, op);
      const k = leadingKeyOf(op === 'PutItem' ? body.Item : body.Key, env, t.name, op);
      return [{ action, resource: t.arn, context: leading([k]) }];
    }
    case 'Query': {
      const t = tableRef(body.TableName, env, op);
      const index = str(body.IndexName);
      const owner = index ? `${t.name}/index/${index}` : t.name;
      const resource = index ? `${t.arn}/index/${index}` : t.arn;
      return [{ action, resource, context: leading([queryLeadingKey(body, env, owner)]) }];
    }
    case 'Scan': {
      const t = tableRef(body.TableName, env, op);
      const index = str(body.IndexName);
      return [{ action, resource: index ? `${t.arn}/index/${index}` : t.arn }];
    }
    case 'BatchGetItem':
    case 'BatchWriteItem': {
      const items = body.RequestItems;
      if (!items || typeof items !== 'object' || Object.keys(items).length === 0)
        throw new RequestMappingError('dynamodb', `${op} has no RequestItems`);
      return Object.entries(items as Record<string, unknown>).map(([table, spec]) => {
        const t = tableRef(table, env, op);
        const keys: string[] = [];
        if (op === 'BatchGetItem') {
          const list = (spec as Json)?.Keys;
          if (!Array.isArray(list))
            throw new RequestMappingError('dynamodb', `${op} on "${table}" has no Keys`);
          for (const k of list) keys.push(leadingKeyOf(k, env, t.name, op));
        } else {
          if (!Array.isArray(spec))
            throw new RequestMappingError('dynamodb', `${op} on "${table}" is not a list`);
          for (const w of spec as Json[]) {
            const put = (w?.PutRequest as Json | undefined)?.Item;
            const del = (w?.DeleteRequest as Json | undefined)?.Key;
            keys.push(leadingKeyOf(put ?? del, env, t.name, op));
          }
        }
        return { action, resource: t.arn, context: leading(keys) };
      });
    }
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const items = body.TransactItems;
      if (!Array.isArray(items) || items.length === 0)
        throw new RequestMappingError('dynamodb', `${op} has no TransactItems`);
      return (items as Json[]).map((item) => {
        const kind = Object.keys(item ?? {}).find((k) => k in TRANSACT_ACTIONS);
        if (!kind)
          throw new RequestMappingError('dynamodb', `${op} item ${JSON.stringify(item)} is not understood`);
        const spec = item[kind] as Json;
        const t = tableRef(spec?.TableName, env, op);
        const k = leadingKeyOf(kind === 'Put' ? spec.Item : spec.Key, env, t.name, op);
        return { action: `dynamodb:${TRANSACT_ACTIONS[kind]}`, resource: t.arn, context: leading([k]) };
      });
    }
    default: {
      // Table-level operations (DescribeTable, CreateTable, UpdateTimeToLive...) and the tagging ones,
      // which name the table by ARN.
      const resource = str(body.ResourceArn) ?? tableRef(body.TableName, env, op).arn;
      return [{ action, resource }];
    }
  }
}

// ------------------------------------------------------------------ S3

/** Query parameters that are arguments, not subresources that change which action is authorized. */
const S3_ARGUMENTS = new Set([
  'x-id',
  'versionId',
  'partNumber',
  'prefix',
  'delimiter',
  'max-keys',
  'marker',
  'list-type',
  'continuation-token',
  'start-after',
  'fetch-owner',
  'encoding-type',
  'key-marker',
  'version-id-marker',
  'upload-id-marker',
  'max-uploads',
  'max-parts',
  'part-number-marker',
]);

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RequestMappingError('s3', `path segment "${segment}" is not valid percent-encoding`);
  }
}

/** Subresource actions, by level, method and subresource; anything else is refused. */
const S3_BUCKET_SUBRESOURCES: Record<string, string> = {
  'GET location': 'GetBucketLocation',
  'GET versions': 'ListBucketVersions',
  'GET uploads': 'ListBucketMultipartUploads',
  'GET policy': 'GetBucketPolicy',
  'PUT policy': 'PutBucketPolicy',
  'DELETE policy': 'DeleteBucketPolicy',
  'GET tagging': 'GetBucketTagging',
  'PUT tagging': 'PutBucketTagging',
  'DELETE tagging': 'PutBucketTagging',
  'GET versioning': 'GetBucketVersioning',
  'PUT versioning': 'PutBucketVersioning',
  'GET acl': 'GetBucketAcl',
  'PUT acl': 'PutBucketAcl',
  'GET cors': 'GetBucketCORS',
  'PUT cors': 'PutBucketCORS',
  'DELETE cors': 'PutBucketCORS',
  'GET lifecycle': 'GetLifecycleConfiguration',
  'PUT lifecycle': 'PutLifecycleConfiguration',
  'DELETE lifecycle': 'PutLifecycleConfiguration',
  'GET notification': 'GetBucketNotification',
  'PUT notification': 'PutBucketNotification',
  'GET website': 'GetBucketWebsite',
  'PUT website': 'PutBucketWebsite',
  'DELETE website': 'DeleteBucketWebsite',
};

const S3_OBJECT_SUBRESOURCES: Record<string, string> = {
  'GET tagging': 'GetObjectTagging',
  'PUT tagging': 'PutObjectTagging',
  'DELETE tagging': 'DeleteObjectTagging',
  'GET acl': 'GetObjectAcl',
  'PUT acl': 'PutObjectAcl',
  'GET attributes': 'GetObject',
  'POST uploads': 'PutObject',
  'PUT uploadId': 'PutObject',
  'POST uploadId': 'PutObject',
  'DELETE uploadId': 'AbortMultipartUpload',
  'GET uploadId': 'ListMultipartUploadParts',
};

/** The x-amz-copy-source header: `[/]<bucket>/<key>[?versionId=…]`, URL-encoded. */
function copySource(header: string, p: string): IamRequest {
  const [path, query] = header.split('?', 2);
  const decoded = decode(path.replace(/^\//, ''));
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1)
    throw new RequestMappingError('s3', `x-amz-copy-source "${header}" names no object`);
  const versioned = query !== undefined && new URLSearchParams(query).has('versionId');
  return { action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: `arn:${p}:s3:::${decoded}` };
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function xmlText(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(
        e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)),
      );
    return XML_ENTITIES[e] ?? whole;
  });
}

/** The <Object> entries of a DeleteObjects body. */
function deleteEntries(body: Buffer): Array<{ key: string; versioned: boolean }> {
  const xml = body.toString('utf8');
  const out: Array<{ key: string; versioned: boolean }> = [];
  for (const m of xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1])?.[1];
    if (key === undefined) throw new RequestMappingError('s3', 'DeleteObjects entry without a Key');
    out.push({ key: xmlText(key), versioned: /<VersionId>/.test(m[1]) });
  }
  return out;
}

function s3Requests(call: HttpCall, env: ArnEnv): IamRequest[] {
  const p = env.partition;
  const method = call.method.toUpperCase();
  const [bucketRaw, ...keyParts] = call.path.replace(/^\//, '').split('/');
  const bucket = decode(bucketRaw);
  const key = decode(keyParts.join('/'));
  const subresources = [...new Set(call.query.keys())].filter(
    (k) => !S3_ARGUMENTS.has(k) && !k.startsWith('response-') && !k.startsWith('X-Amz-'),
  );
  if (subresources.length > 1)
    throw new RequestMappingError('s3', `${method} with several subresources (${subresources.join(', ')})`);
  const sub = subresources[0];
  const versioned = call.query.has('versionId');

  if (!bucket) {
    if (method === 'GET' && !sub) return [{ action: 's3:ListAllMyBuckets', resource: '*' }];
    throw new RequestMappingError('s3', `${method} / is not understood`);
  }
  const bucketArn = `arn:${p}:s3:::${bucket}`;

  if (!key) {
    const one = (action: string, context?: IamRequest['context']): IamRequest[] => [
      { action: `s3:${action}`, resource: bucketArn, ...(context ? { context } : {}) },
    ];
    if (sub === 'delete' && method === 'POST') {
      const entries = deleteEntries(call.body);
      if (entries.length === 0) throw new RequestMappingError('s3', 'DeleteObjects names no object');
      return entries.map((e) => ({
        action: e.versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject',
        resource: `${bucketArn}/${e.key}`,
      }));
    }
    if (sub) {
      const action = S3_BUCKET_SUBRESOURCES[`${method} ${sub}`];
      if (!action)
        throw new RequestMappingError('s3', `${method} on bucket subresource "${sub}" is not supported`);
      return one(action);
    }
    switch (method) {
      case 'GET': {
        const context: Record<string, string> = { 's3:prefix': call.query.get('prefix') ?? '' };
        const delimiter = call.query.get('delimiter');
        if (delimiter !== null) context['s3:delimiter'] = delimiter;
        const maxKeys = call.query.get('max-keys');
        if (maxKeys !== null) context['s3:max-keys'] = maxKeys;
        return one('ListBucket', context);
      }
      case 'HEAD':
        return one('ListBucket');
      case 'PUT':
        return one('CreateBucket');
      case 'DELETE':
        return one('DeleteBucket');
      default:
        throw new RequestMappingError('s3', `${method} on a bucket is not supported`);
    }
  }

  const objectArn = `${bucketArn}/${key}`;
  const copy = call.headers['x-amz-copy-source'];
  if (sub) {
    const action = S3_OBJECT_SUBRESOURCES[`${method} ${sub}`];
    if (!action)
      throw new RequestMappingError('s3', `${method} on object subresource "${sub}" is not supported`);
    const out: IamRequest[] = [{ action: `s3:${action}`, resource: objectArn }];
    // UploadPartCopy reads its source like CopyObject does.
    if (copy && method === 'PUT' && sub === 'uploadId') out.push(copySource(copy, p));
    return out;
  }
  switch (method) {
    case 'GET':
    case 'HEAD':
      return [{ action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: objectArn }];
    case 'DELETE':
      return [{ action: versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: objectArn }];
    case 'PUT': {
      const out: IamRequest[] = [{ action: 's3:PutObject', resource: objectArn }];
      if (copy) out.push(copySource(copy, p));
      // PutObject/CopyObject that set tags or an ACL need those permissions too.
      if (call.headers['x-amz-tagging'] !== undefined)
        out.push({ action: 's3:PutObjectTagging', resource: objectArn });
      if (
        call.headers['x-amz-acl'] !== undefined ||
        Object.keys(call.headers).some((h) => h.startsWith('x-amz-grant-'))
      )
        out.push({ action: 's3:PutObjectAcl', resource: objectArn });
      return out;
    }
    default:
      throw new RequestMappingError('s3', `${method} on an object is not supported`);
  }
}

// ------------------------------------------------------------------ denial

export interface DenialOptions {
  /** The call's method: a HEAD response has no body (S3 sends none; the SDK then names the error from the status). */
  method?: string;
  /** The evaluation's decision: an explicit deny is worded as AWS words it. */
  decision?: Decision;
}

/** The response AWS gives for a denied call, shaped so that the AWS SDK v3 client raises its AccessDenied error. */
export function accessDenied(
  service: Service,
  req: IamRequest,
  principalArn: string,
  opts: DenialOptions = {},
): { status: number; headers: Record<string, string>; body: string } {
  const why =
    opts.decision?.effect === 'explicit-deny'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${req.action} action`;
  const message = `User: ${principalArn} is not authorized to perform: ${req.action} on resource: ${req.resource} ${why}`;
  const requestId = randomUUID();
  switch (service) {
    case 'kinesis':
      return {
        status: 400,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: 'AccessDeniedException', message }),
      };
    case 'dynamodb':
      return {
        status: 400,
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', Message: message }),
      };
    case 's3': {
      const s3RequestId = randomBytes(8).toString('hex').toUpperCase();
      const hostId = randomBytes(48).toString('base64');
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>' +
        `<Error><Code>AccessDenied</Code><Message>${xmlEscape(message)}</Message>` +
        `<RequestId>${s3RequestId}</RequestId><HostId>${hostId}</HostId></Error>`;
      return {
        status: 403,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': s3RequestId, 'x-amz-id-2': hostId },
        body: opts.method?.toUpperCase() === 'HEAD' ? '' : body,
      };
    }
  }
}

function xmlEscape(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}
