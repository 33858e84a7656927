// The HTTP-request → IAM-request mapper against what the real SDK v3 clients send: each client talks to
// a local server that captures the raw request, maps it, and answers with accessDenied(...), so the
// tests also check that the SDK turns that answer into its AccessDenied error.
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import {
  AccessDeniedException,
  GetRecordsCommand,
  KinesisClient,
  ListStreamsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evaluatePolicies, type IamRequest, type PolicyDocument } from '../../shared/local/iam/policy.ts';
import {
  type ArnEnv,
  accessDenied,
  type HttpCall,
  iamRequestsOf,
  RequestMappingError,
  type Service,
  serviceOf,
} from '../../shared/local/iam/requests.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ACCOUNT = '000000000000';
const PRINCIPAL = `arn:aws:sts::${ACCOUNT}:assumed-role/fn-role/fn`;
const HASH_KEYS: Record<string, string> = { T: 'pk', U: 'id', 'T/index/byOwner': 'owner' };
const env: ArnEnv = {
  partition: 'aws',
  region: 'us-east-1',
  account: ACCOUNT,
  hashKeyOf: (t) => HASH_KEYS[t],
};
const TABLE_T = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/T`;
const TABLE_U = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/U`;

interface Captured {
  call: HttpCall;
  service: Service;
  iam: IamRequest[];
}
let captured: Captured[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const call: HttpCall = {
        method: req.method ?? 'GET',
        path: q < 0 ? raw : raw.slice(0, q),
        query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
        headers,
        body: Buffer.concat(chunks),
      };
      try {
        const service = serviceOf(call);
        const iam = iamRequestsOf(service, call, env);
        captured.push({ call, service, iam });
        const d = accessDenied(service, iam[0], PRINCIPAL, { method: call.method });
        res.writeHead(d.status, d.headers).end(d.body);
      } catch (e) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
});

beforeEach(() => {
  captured = [];
});

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const kinesis = () =>
  new KinesisClient({ endpoint, region: 'us-east-1', credentials, requestHandler: new NodeHttpHandler() });
const dynamodb = () => new DynamoDBClient({ endpoint, region: 'us-east-1', credentials });
const s3 = () =>
  new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });

/** The error the SDK raised, and the one request the server saw (a denial must not be retried). */
async function denied(
  p: Promise<unknown>,
): Promise<{ error: Error & { $metadata?: { httpStatusCode?: number } }; seen: Captured }> {
  const error = await p.then(
    () => {
      throw new Error('the call succeeded');
    },
    (e: Error) => e,
  );
  expect(captured).toHaveLength(1);
  return { error, seen: captured[0] };
}

const message = (r: IamRequest) =>
  `User: ${PRINCIPAL} is not authorized to perform: ${r.action} on resource: ${r.resource} because no identity-based policy allows the ${r.action} action`;

describe('Kinesis calls', () => {
  it('PutRecords → kinesis:PutRecords on the stream; the SDK raises AccessDeniedException', async () => {
    const { error, seen } = await denied(
      kinesis().send(
        new PutRecordsCommand({
          StreamName: 'events',
          Records: [{ Data: Buffer.from('x'), PartitionKey: 'k' }],
        }),
      ),
    );
    expect(seen.service).toBe('kinesis');
    expect(seen.iam).toEqual([
      { action: 'kinesis:PutRecords', resource: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/events` },
    ]);
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(message(seen.iam[0]));
    expect(error.message).toContain('kinesis:PutRecords');
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });

  it('GetRecords with only a kinesalite shard iterator → the stream it was issued for', async () => {
    // kinesalite's own iterator encoder, so a change of its format breaks this test, not the proxy.
    const kinesaliteDb = createRequire(import.meta.url)('kinesalite/db/index.js') as {
      createShardIterator(stream: string, shard: string, seq: string): string;
    };
    const iterator = kinesaliteDb.createShardIterator(
      'orders-v2',
      'shardId-000000000001',
      '4959'.padEnd(56, '0'),
    );
    const { error, seen } = await denied(kinesis().send(new GetRecordsCommand({ ShardIterator: iterator })));
    expect(seen.iam).toEqual([
      { action: 'kinesis:GetRecords', resource: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/orders-v2` },
    ]);
    expect(error.name).toBe('AccessDeniedException');
  });

  it('ListStreams names no stream → resource *', async () => {
    const { error, seen } = await denied(kinesis().send(new ListStreamsCommand({})));
    expect(seen.iam).toEqual([{ action: 'kinesis:ListStreams', resource: '*' }]);
    expect(error.message).toBe(message(seen.iam[0]));
  });
});

describe('DynamoDB calls', () => {
  it('GetItem → dynamodb:GetItem on the table with the partition key as LeadingKeys', async () => {
    const { error, seen } = await denied(
      dynamodb().send(
        new GetItemCommand({ TableName: 'T', Key: { pk: { S: 's#a/b' }, sk: { S: 'doc#1' } } }),
      ),
    );
    expect(seen.service).toBe('dynamodb');
    expect(seen.iam).toEqual([
      { action: 'dynamodb:GetItem', resource: TABLE_T, context: { 'dynamodb:LeadingKeys': ['s#a/b'] } },
    ]);
    // DynamoDB's model has no AccessDeniedException: the SDK builds a generic service exception, named
    // after the __type's part behind the '#', with the message from the capitalized "Message".
    expect(error).toBeInstanceOf(DynamoDBServiceException);
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(message(seen.iam[0]));
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });

  it('Query → LeadingKeys from the equality on the partition key, not the sort-key condition', async () => {
    const { error, seen } = await denied(
      dynamodb().send(
        new QueryCommand({
          TableName: 'T',
          KeyConditionExpression: '#p = :p AND begins_with(sk, :s)',
          ExpressionAttributeNames: { '#p': 'pk' },
          ExpressionAttributeValues: { ':p': { S: 'c#task' }, ':s': { S: 'esm#' } },
        }),
      ),
    );
    expect(seen.iam).toEqual([
      { action: 'dynamodb:Query', resource: TABLE_T, context: { 'dynamodb:LeadingKeys': ['c#task'] } },
    ]);
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain('dynamodb:Query');
  });

  it('Query forms: sort key compared with = first, BETWEEN, numeric keys, an index, legacy KeyConditions', async () => {
    const cases: Array<[ConstructorParameters<typeof QueryCommand>[0], IamRequest]> = [
      [
        {
          TableName: 'T',
          KeyConditionExpression: '(sk = :s) AND pk = :p',
          ExpressionAttributeValues: { ':p': { S: 's#x' }, ':s': { S: 'k' } },
        },
        { action: 'dynamodb:Query', resource: TABLE_T, context: { 'dynamodb:LeadingKeys': ['s#x'] } },
      ],
      [
        {
          TableName: 'U',
          KeyConditionExpression: 'id = :id AND ts BETWEEN :a AND :b',
          ExpressionAttributeValues: { ':id': { N: '42' }, ':a': { N: '1' }, ':b': { N: '2' } },
        },
        { action: 'dynamodb:Query', resource: TABLE_U, context: { 'dynamodb:LeadingKeys': ['42'] } },
      ],
      [
        {
          TableName: 'T',
          IndexName: 'byOwner',
          KeyConditionExpression: '#o = :o AND sk >= :s',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':o': { S: 'alice' }, ':s': { S: 'a' } },
        },
        {
          action: 'dynamodb:Query',
          resource: `${TABLE_T}/index/byOwner`,
          context: { 'dynamodb:LeadingKeys': ['alice'] },
        },
      ],
      [
        {
          TableName: 'T',
          KeyConditions: {
            sk: { ComparisonOperator: 'EQ', AttributeValueList: [{ S: 'k' }] },
            pk: { ComparisonOperator: 'EQ', AttributeValueList: [{ S: 's#legacy' }] },
          },
        },
        { action: 'dynamodb:Query', resource: TABLE_T, context: { 'dynamodb:LeadingKeys': ['s#legacy'] } },
      ],
    ];
    for (const [input, expected] of cases) {
      captured = [];
      const { error, seen } = await denied(dynamodb().send(new QueryCommand(input)));
      expect(seen.iam).toEqual([expected]);
      expect(error.name).toBe('AccessDeniedException');
    }
  });

  it('Scan carries no LeadingKeys', async () => {
    const { seen } = await denied(dynamodb().send(new ScanCommand({ TableName: 'T' })));
    expect(seen.iam).toEqual([{ action: 'dynamodb:Scan', resource: TABLE_T }]);
  });

  it('BatchWriteItem over two tables → one request per table, each with its own keys', async () => {
    const { error, seen } = await denied(
      dynamodb().send(
        new BatchWriteItemCommand({
          RequestItems: {
            T: [
              { PutRequest: { Item: { pk: { S: 's#a/b' }, sk: { S: '1' }, v: { N: '1' } } } },
              { DeleteRequest: { Key: { pk: { S: 'c#task' }, sk: { S: '2' } } } },
              { PutRequest: { Item: { pk: { S: 's#a/b' }, sk: { S: '3' } } } },
            ],
            U: [{ PutRequest: { Item: { id: { B: Buffer.from([1, 2, 255]) }, n: { S: 'x' } } } }],
          },
        }),
      ),
    );
    expect(seen.iam).toEqual([
      {
        action: 'dynamodb:BatchWriteItem',
        resource: TABLE_T,
        context: { 'dynamodb:LeadingKeys': ['s#a/b', 'c#task'] },
      },
      { action: 'dynamodb:BatchWriteItem', resource: TABLE_U, context: { 'dynamodb:LeadingKeys': ['AQL/'] } },
    ]);
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain('dynamodb:BatchWriteItem');
    // Against a state-table grant like infra/sluice-catalog.ts writes: T's keys are the task's own, U is
    // not granted at all, so the proxy must refuse the whole batch.
    const grant: PolicyDocument = {
      Statement: {
        Effect: 'Allow',
        Action: ['dynamodb:BatchWriteItem'],
        Resource: TABLE_T,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['s#a/b', 'c#task'] } },
      },
    };
    expect(seen.iam.map((r) => evaluatePolicies([grant], r).effect)).toEqual(['allow', 'implicit-deny']);
  });

  it('TransactWriteItems → the underlying item action per item', async () => {
    const { seen } = await denied(
      dynamodb().send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: 'T', Item: { pk: { S: 's#a' }, sk: { S: '1' } } } },
            {
              Update: {
                TableName: 'U',
                Key: { id: { S: 'u1' } },
                UpdateExpression: 'SET n = :n',
                ExpressionAttributeValues: { ':n': { N: '1' } },
              },
            },
            { Delete: { TableName: 'T', Key: { pk: { S: 's#b' }, sk: { S: '2' } } } },
            {
              ConditionCheck: {
                TableName: 'T',
                Key: { pk: { S: 'c#t' }, sk: { S: 'ck' } },
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
          ],
        }),
      ),
    );
    expect(seen.iam.map((r) => [r.action, r.resource, r.context?.['dynamodb:LeadingKeys']])).toEqual([
      ['dynamodb:PutItem', TABLE_T, ['s#a']],
      ['dynamodb:UpdateItem', TABLE_U, ['u1']],
      ['dynamodb:DeleteItem', TABLE_T, ['s#b']],
      ['dynamodb:ConditionCheckItem', TABLE_T, ['c#t']],
    ]);
  });
});

describe('S3 calls', () => {
  it('PutObject → s3:PutObject on the object; the SDK raises AccessDenied with status 403', async () => {
    const { error, seen } = await denied(
      s3().send(new PutObjectCommand({ Bucket: 'frags', Key: 'acme/events/0001.json.gz', Body: 'x' })),
    );
    expect(seen.service).toBe('s3');
    expect(seen.iam).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::frags/acme/events/0001.json.gz' },
    ]);
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toBe(message(seen.iam[0]));
    expect(error.$metadata?.httpStatusCode).toBe(403);
  });

  it('GetObject on a key needing escapes → the decoded key', async () => {
    const { error, seen } = await denied(
      s3().send(new GetObjectCommand({ Bucket: 'frags', Key: 'a b/c+d.json' })),
    );
    expect(seen.call.path).toBe('/frags/a%20b/c%2Bd.json');
    expect(seen.iam).toEqual([{ action: 's3:GetObject', resource: 'arn:aws:s3:::frags/a b/c+d.json' }]);
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toContain('s3:GetObject');
  });

  it('HeadObject: no body in the denial (as on S3), so the SDK cannot name it AccessDenied', async () => {
    const { error, seen } = await denied(s3().send(new HeadObjectCommand({ Bucket: 'frags', Key: 'k' })));
    expect(seen.call.method).toBe('HEAD');
    expect(seen.iam).toEqual([{ action: 's3:GetObject', resource: 'arn:aws:s3:::frags/k' }]);
    // With no <Code> to read, the SDK maps only a 404 from the status (NotFound); a 403 comes out as
    // a bare S3ServiceException named "Unknown". The status and the request id are what callers have.
    expect(error).toBeInstanceOf(S3ServiceException);
    expect(error.name).toBe('Unknown');
    expect(error.message).toBe('UnknownError');
    expect(error.$metadata?.httpStatusCode).toBe(403);
    expect((error.$metadata as { requestId?: string }).requestId).toMatch(/^[0-9A-F]{16}$/);
  });

  it('ListObjectsV2 with a prefix → s3:ListBucket on the bucket with s3:prefix, s3:delimiter, s3:max-keys', async () => {
    const { error, seen } = await denied(
      s3().send(
        new ListObjectsV2Command({ Bucket: 'frags', Prefix: 'acme/events/', Delimiter: '/', MaxKeys: 50 }),
      ),
    );
    expect(seen.call.query.get('list-type')).toBe('2');
    expect(seen.iam).toEqual([
      {
        action: 's3:ListBucket',
        resource: 'arn:aws:s3:::frags',
        context: { 's3:prefix': 'acme/events/', 's3:delimiter': '/', 's3:max-keys': '50' },
      },
    ]);
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toContain('s3:ListBucket on resource: arn:aws:s3:::frags because');
  });

  it('ListObjects (v1) without a prefix → s3:prefix is ""', async () => {
    const { seen } = await denied(s3().send(new ListObjectsCommand({ Bucket: 'frags' })));
    expect(seen.iam).toEqual([
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::frags', context: { 's3:prefix': '' } },
    ]);
  });

  it('DeleteObjects → s3:DeleteObject per key in the XML body', async () => {
    const { error, seen } = await denied(
      s3().send(
        new DeleteObjectsCommand({
          Bucket: 'frags',
          Delete: {
            Objects: [{ Key: 'acme/1.json' }, { Key: 'a&b <c>/"q".json' }, { Key: 'v', VersionId: 'v1' }],
          },
        }),
      ),
    );
    expect(seen.call.method).toBe('POST');
    expect(seen.iam).toEqual([
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::frags/acme/1.json' },
      { action: 's3:DeleteObject', resource: 'arn:aws:s3:::frags/a&b <c>/"q".json' },
      { action: 's3:DeleteObjectVersion', resource: 'arn:aws:s3:::frags/v' },
    ]);
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toContain('s3:DeleteObject');
  });

  it('CopyObject → s3:PutObject on the target and s3:GetObject on the (decoded) source', async () => {
    const { seen } = await denied(
      s3().send(new CopyObjectCommand({ Bucket: 'frags', Key: 'to/x', CopySource: 'src/a%20b/c%2Bd.json' })),
    );
    expect(seen.iam).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::frags/to/x' },
      { action: 's3:GetObject', resource: 'arn:aws:s3:::src/a b/c+d.json' },
    ]);
  });
});

describe('raw calls the SDK tests do not cover', () => {
  const call = (over: Partial<HttpCall>): HttpCall => ({
    method: 'GET',
    path: '/',
    query: new URLSearchParams(),
    headers: {},
    body: Buffer.alloc(0),
    ...over,
  });
  const auth = (service: string) => ({
    authorization: `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`,
  });

  it('serviceOf: the credential scope first, then X-Amz-Target, else s3', () => {
    expect(
      serviceOf(call({ headers: { ...auth('dynamodb'), 'x-amz-target': 'Kinesis_20131202.PutRecord' } })),
    ).toBe('dynamodb');
    expect(serviceOf(call({ headers: { 'x-amz-target': 'Kinesis_20131202.PutRecord' } }))).toBe('kinesis');
    expect(serviceOf(call({ headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' } }))).toBe('dynamodb');
    expect(serviceOf(call({ path: '/b/k' }))).toBe('s3');
    expect(
      serviceOf(
        call({
          query: new URLSearchParams({ 'X-Amz-Credential': 'AKID/20260101/us-east-1/s3/aws4_request' }),
        }),
      ),
    ).toBe('s3');
    expect(() => serviceOf(call({ headers: auth('sqs') }))).toThrow(RequestMappingError);
  });

  it('S3 bucket-level and multipart requests', () => {
    const s3Of = (over: Partial<HttpCall>) => iamRequestsOf('s3', call(over), env);
    expect(s3Of({ method: 'HEAD', path: '/frags' })).toEqual([
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::frags' },
    ]);
    expect(s3Of({ method: 'PUT', path: '/frags' })).toEqual([
      { action: 's3:CreateBucket', resource: 'arn:aws:s3:::frags' },
    ]);
    expect(s3Of({ path: '/frags', query: new URLSearchParams('location') })).toEqual([
      { action: 's3:GetBucketLocation', resource: 'arn:aws:s3:::frags' },
    ]);
    const o = 'arn:aws:s3:::frags/big';
    expect(
      s3Of({
        method: 'POST',
        path: '/frags/big',
        query: new URLSearchParams('uploads&x-id=CreateMultipartUpload'),
      }),
    ).toEqual([{ action: 's3:PutObject', resource: o }]);
    expect(
      s3Of({ method: 'PUT', path: '/frags/big', query: new URLSearchParams('partNumber=2&uploadId=u') }),
    ).toEqual([{ action: 's3:PutObject', resource: o }]);
    expect(s3Of({ method: 'POST', path: '/frags/big', query: new URLSearchParams('uploadId=u') })).toEqual([
      { action: 's3:PutObject', resource: o },
    ]);
    expect(s3Of({ method: 'DELETE', path: '/frags/big', query: new URLSearchParams('uploadId=u') })).toEqual([
      { action: 's3:AbortMultipartUpload', resource: o },
    ]);
    expect(s3Of({ method: 'DELETE', path: '/frags/big' })).toEqual([
      { action: 's3:DeleteObject', resource: o },
    ]);
    expect(s3Of({ path: '/frags/big', query: new URLSearchParams('versionId=3') })).toEqual([
      { action: 's3:GetObjectVersion', resource: o },
    ]);
    // An unknown subresource is refused rather than mapped to a plain GetObject.
    expect(() => s3Of({ path: '/frags/big', query: new URLSearchParams('torrent') })).toThrow(
      /object subresource "torrent" is not supported/,
    );
  });

  it('refuses what it cannot map safely', () => {
    const ddb = (op: string, body: unknown) =>
      iamRequestsOf(
        'dynamodb',
        call({
          method: 'POST',
          headers: { 'x-amz-target': `DynamoDB_20120810.${op}` },
          body: Buffer.from(JSON.stringify(body)),
        }),
        env,
      );
    // Without the key schema, an Item's partition key cannot be told apart from its other attributes.
    expect(() => ddb('PutItem', { TableName: 'Unknown', Item: { a: { S: '1' }, b: { S: '2' } } })).toThrow(
      /partition key of table "Unknown" is not known/,
    );
    // ... but a one-attribute Key can only be the partition key.
    expect(ddb('GetItem', { TableName: 'Unknown', Key: { a: { S: '1' } } })[0].context).toEqual({
      'dynamodb:LeadingKeys': ['1'],
    });
    expect(() =>
      ddb('Query', {
        TableName: 'T',
        KeyConditionExpression: 'sk = :s',
        ExpressionAttributeValues: { ':s': { S: 'x' } },
      }),
    ).toThrow(/equality on the partition key "pk"/);
    expect(() => ddb('ExecuteStatement', { Statement: 'SELECT * FROM T' })).toThrow(/PartiQL/);
    expect(ddb('DescribeTable', { TableName: 'T' })).toEqual([
      { action: 'dynamodb:DescribeTable', resource: TABLE_T },
    ]);
    expect(ddb('ListTables', {})).toEqual([{ action: 'dynamodb:ListTables', resource: '*' }]);
    expect(() =>
      iamRequestsOf(
        'kinesis',
        call({
          method: 'POST',
          headers: { 'x-amz-target': 'Kinesis_20131202.GetRecords' },
          body: Buffer.from('{"ShardIterator":"AAAA"}'),
        }),
        env,
      ),
    ).toThrow(RequestMappingError);
  });

  it('accessDenied: explicit denies are worded as AWS words them; S3 HEAD answers carry no body', () => {
    const r = { action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' };
    const d = accessDenied('s3', r, PRINCIPAL, {
      decision: { effect: 'explicit-deny', statement: { Effect: 'Deny', Action: '*', Resource: '*' } },
    });
    expect(d.status).toBe(403);
    expect(d.body).toMatch(
      /^<\?xml version="1\.0" encoding="UTF-8"\?><Error><Code>AccessDenied<\/Code><Message>User: .* is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b\/k with an explicit deny in an identity-based policy<\/Message><RequestId>[0-9A-F]+<\/RequestId><HostId>.+<\/HostId><\/Error>$/,
    );
    expect(accessDenied('s3', r, PRINCIPAL, { method: 'HEAD' }).body).toBe('');
    const k = accessDenied('kinesis', { action: 'kinesis:PutRecord', resource: 'x' }, PRINCIPAL);
    expect(k.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(JSON.parse(k.body)).toEqual({
      __type: 'AccessDeniedException',
      message: message({ action: 'kinesis:PutRecord', resource: 'x' }),
    });
  });
});
