/**
 * SluiceCatalog synthesized from a hand-built catalog (bundling skipped): targeted assertions per
 * acceptance point of issue 4, plus "fails if" cases. No whole-template snapshots.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { DeployUnsupportedError } from '../../infra/errors.ts';
import { DERIVATION_MODULE_FILE } from '../../infra/function.ts';
import { ALARM_THRESHOLDS, SLUICE_METRICS } from '../../infra/monitoring.ts';
import { DEFAULT_EVENT_SOURCE, SluiceCatalog } from '../../infra/sluice-catalog.ts';
import type { SluiceStack } from '../../infra/stack.ts';
import { type BuiltCatalog, typescriptOf } from '../../shared/catalog/model.ts';
import { streamNameFor } from '../../shared/config/env.ts';
import { fixtureCatalog, loc } from './fixture.ts';
import {
  actionsOf,
  assertLeastPrivilege,
  deployedTemplate,
  functionOfTask,
  OverBroadGrantError,
  roleOfTask,
  statementsOfRole,
  synth,
} from './support.ts';

let template: Template;
let stack: SluiceStack;

beforeAll(() => {
  ({ template, stack } = synth(fixtureCatalog(), {
    streams: { 'acme/orders': { shards: 3, retentionHours: 48 } },
  }));
});

function logicalIds(t: Template): Map<string, string> {
  return new Map(
    Object.entries(t.toJSON().Resources as Record<string, { Type: string }>).map(([id, r]) => [id, r.Type]),
  );
}

describe('collections: streams, buckets, state', () => {
  it('one encrypted Kinesis stream per collection, on-demand unless shards are asked for', () => {
    template.resourceCountIs('AWS::Kinesis::Stream', 4);
    const onDemand = template.findResources('AWS::Kinesis::Stream', {
      Properties: { StreamModeDetails: { StreamMode: 'ON_DEMAND' } },
    });
    expect(Object.keys(onDemand)).toHaveLength(3);
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 3,
      RetentionPeriodHours: 48,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
    for (const s of Object.values(template.findResources('AWS::Kinesis::Stream'))) {
      expect(s.Properties.StreamEncryption).toEqual({ EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' });
      expect(s.DeletionPolicy).toBe('Retain');
    }
  });

  it('storage-mapping bucket: public access blocked, TLS only, encrypted, access logs, named as in the catalog', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'acme-flow-data',
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'acme-flow-data/' },
    });
    const [bucketId] = Object.keys(
      template.findResources('AWS::S3::Bucket', { Properties: { BucketName: 'acme-flow-data' } }),
    );
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('retention becomes a lifecycle rule only for the collection that sets it', () => {
    const buckets = Object.values(template.findResources('AWS::S3::Bucket'));
    const rules = buckets.flatMap((b) => b.Properties.LifecycleConfiguration?.Rules ?? []);
    const retention = rules.filter((r: { Id?: string }) => r.Id?.startsWith('retention:'));
    expect(retention).toEqual([
      { Id: 'retention:acme/events', Prefix: 'flow/acme/events/', ExpirationInDays: 30, Status: 'Enabled' },
    ]);
    // The unmapped collection lands in the default fragments bucket, which has no lifecycle at all.
    const unmapped = buckets.filter(
      (b) => b.Properties.BucketName === undefined && b.Properties.LoggingConfiguration,
    );
    expect(unmapped).toHaveLength(1);
    expect(unmapped[0].Properties.LifecycleConfiguration).toBeUndefined();
  });

  it('state table: on-demand, point-in-time recovery, KMS encryption, retained', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'p', KeyType: 'HASH' },
          { AttributeName: 'k', KeyType: 'RANGE' },
        ],
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        Replicas: [
          Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
        ],
      }),
    });
  });

  it('materialize-dynamodb table: collection key → partition and sort key with schema types', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        TableName: 'user_totals',
        KeySchema: [
          { AttributeName: 'user_name', KeyType: 'HASH' },
          { AttributeName: 'day', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'user_name', AttributeType: 'S' },
          { AttributeName: 'day', AttributeType: 'N' },
        ]),
      }),
    });
  });
});

describe('functions', () => {
  it('one function per capture, derivation, materialization and persister: arm64, latest Node, ESM bundle', () => {
    template.resourceCountIs('AWS::Lambda::Function', 3 + 1 + 2 + 4);
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
      const env = fn.Properties.Environment.Variables;
      expect(env.SLUICE_CATALOG).toBe('./catalog.json');
      expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('Sluice');
      expect(env.POWERTOOLS_SERVICE_NAME).toMatch(/^(capture|derivation|materialization|persister):/);
      expect(env.SLUICE_TASK).toBeTruthy();
      expect(JSON.stringify(env.SLUICE_STATE_TABLE)).toMatch(/^\{"Ref":"FlowState[0-9A-F]{8}"\}$/);
    }
  });

  it('streams are named from SLUICE_PREFIX, so a function needs no per-stream environment (Lambda caps it at 4 KB)', () => {
    const { props } = functionOfTask(template, 'derivation:acme/totals');
    const env = (props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.SLUICE_PREFIX).toBe('Test-Flow');
    expect(env.SLUICE_STREAMS).toBeUndefined();
    expect(env.SLUICE_FRAGMENTS).toBeUndefined();
    expect(env.SLUICE_TASK).toBe('acme/totals');
    expect(env.SLUICE_DERIVATION_MODULE).toBe(`/var/task/${DERIVATION_MODULE_FILE}`);
    for (const c of Object.keys(stack.flow.catalog.collections))
      template.hasResourceProperties('AWS::Kinesis::Stream', { Name: streamNameFor('Test-Flow', c) });
    // A persister lists its own stream and fragment folder: the local stack maps collections from them.
    const persister = functionOfTask(template, 'persister:acme/events').props;
    const penv = (persister.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(penv.SLUICE_STREAMS).toBe(JSON.stringify({ 'acme/events': 'Test-Flow-acme.events' }));
    expect(JSON.stringify(penv.SLUICE_FRAGMENTS)).toContain('/flow/acme/events/');
  });

  it('each function ships only its own task: the derivation its module path, a capture no other endpoint', () => {
    const derive = stack.flow.functions.get('derivation:acme/totals');
    expect(typescriptOf(derive?.catalog.collections['acme/totals'].derive)?.module).toBe(
      `/var/task/${DERIVATION_MODULE_FILE}`,
    );
    expect(Object.keys(derive?.catalog.captures ?? {})).toEqual([]);
    const ingest = stack.flow.functions.get('capture:acme/ingest');
    expect(Object.keys(ingest?.catalog.captures ?? {})).toEqual(['acme/ingest']);
    expect(JSON.stringify(ingest?.catalog)).not.toContain('secretsmanager:');
    const persister = stack.flow.functions.get('persister:acme/totals');
    expect(persister?.catalog.collections['acme/totals'].derive).toBeUndefined();
    expect(typescriptOf(stack.flow.catalog.collections['acme/totals'].derive)?.module).toBe('/cat/totals.ts');
  });

  it('event-source mappings: bisect, ReportBatchItemFailures, halt at a failing record (retry until fixed, never parked)', () => {
    // persisters 4 + derivation 1 source + materializations 2 sources
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 7);
    for (const m of Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))) {
      expect(m.Properties).toMatchObject({
        BatchSize: DEFAULT_EVENT_SOURCE.batchSize,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: -1,
        MaximumRecordAgeInSeconds: -1,
        ParallelizationFactor: 1,
        StartingPosition: 'TRIM_HORIZON',
      });
      expect(m.Properties.DestinationConfig).toBeUndefined();
    }
  });

  it('dead-letter queues are encrypted and TLS-only', () => {
    for (const q of Object.values(template.findResources('AWS::SQS::Queue'))) {
      expect(q.Properties.SqsManagedSseEnabled).toBe(true);
    }
    template.allResourcesProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('HTTP ingest: Function URL with AWS_IAM auth, never NONE', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.allResourcesProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM' });
    template.hasOutput('*', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('acmeingest'), 'FunctionUrl'] },
    });
  });

  it('polling capture: EventBridge schedule at its interval, one invocation at a time', () => {
    const { id, props } = functionOfTask(template, 'capture:acme/pg');
    expect(props.ReservedConcurrentExecutions).toBe(1);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(2 minutes)',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [id, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2 } }),
      ],
    });
  });

  it('every materialization: a backfill job tick every minute, {"sluiceBackfill": true}, no retries', () => {
    for (const label of ['materialization:acme/lake', 'materialization:acme/to-dynamo']) {
      const { id } = functionOfTask(template, label);
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [id, 'Arn'] },
            Input: '{"sluiceBackfill":true}',
            RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }),
          }),
        ],
      });
    }
  });

  it('S3 capture: EventBridge Object Created events for its bucket and prefix, retried for a day', () => {
    const { id } = functionOfTask(template, 'capture:other/s3');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: ['partner-drop'] }, object: { key: [{ prefix: 'incoming/' }] } },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [id, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }),
        }),
      ],
    });
  });
});

describe('least privilege', () => {
  it('no policy in the stack has a wildcard action or Resource "*"', () => {
    expect(() => assertLeastPrivilege(template)).not.toThrow();
  });

  it('fails if a grant is too wide: the check catches a grantReadWrite-style wildcard', () => {
    const app = new App();
    const s = new Stack(app, 'Wide');
    const role = new iam.Role(s, 'R', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:*'],
        resources: ['arn:aws:kinesis:us-east-1:1:stream/x'],
      }),
    );
    expect(() => assertLeastPrivilege(deployedTemplate(s))).toThrow(OverBroadGrantError);
  });

  it('ingest writes only its target stream, reads no other, and touches no bucket or secret', () => {
    const st = statementsOfRole(template, roleOfTask(template, 'capture:acme/ingest'));
    const kinesisWrite = st.filter((s) => [s.Action].flat().includes('kinesis:PutRecords'));
    expect(kinesisWrite).toHaveLength(1);
    expect(JSON.stringify(kinesisWrite[0].Resource)).toMatch(/Collectionsacmeevents/);
    // It reads its target stream only to settle a PutRecords whose answer was lost.
    const kinesisRead = st.filter((s) => [s.Action].flat().includes('kinesis:GetRecords'));
    expect(kinesisRead).toEqual(kinesisWrite);
    const actions = actionsOf(st);
    expect(actions.filter((a) => a.startsWith('s3:') || a.startsWith('secretsmanager:'))).toEqual([]);
  });

  it("state-table access is confined to the task's own partitions (dynamodb:LeadingKeys)", () => {
    const st = statementsOfRole(template, roleOfTask(template, 'materialization:acme/to-dynamo'));
    const state = st.find((s) => [s.Action].flat().includes('dynamodb:PutItem') && s.Condition);
    expect(state?.Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['c#materialization:acme/to-dynamo'] },
    });
  });

  it('persister writes only its own fragment prefix and its own spill folder', () => {
    const st = statementsOfRole(template, roleOfTask(template, 'persister:acme/events'));
    const put = st.filter((s) => [s.Action].flat().includes('s3:PutObject'));
    expect(put).toHaveLength(2);
    expect(JSON.stringify(put[0].Resource)).toContain('/flow/acme/events/*');
    expect(JSON.stringify(put[1].Resource)).toContain('/flow/_sluice/spill/view/acme/events/*');
    const list = st.find((s) => [s.Action].flat().includes('s3:ListBucket'));
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['flow/acme/events/*'] } });
  });

  it('a polling capture may Get/Put only its own state object and list only that key (a missing one is a 404)', () => {
    const st = statementsOfRole(template, roleOfTask(template, 'capture:acme/pg'));
    const s3 = st.filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
    expect(s3).toHaveLength(2);
    const [defaultBucket] = Object.keys(
      template.findResources('AWS::S3::Bucket', {
        Properties: { LoggingConfiguration: { LogFilePrefix: 'default/' } },
      }),
    );
    const rw = s3.find((s) => [s.Action].flat().includes('s3:GetObject'));
    expect(rw?.Action).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(rw?.Resource).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [defaultBucket, 'Arn'] }, '/_sluice/captures/acme/pg.json']],
    });
    const list = s3.find((s) => s.Action === 's3:ListBucket');
    expect(list?.Resource).toEqual({ 'Fn::GetAtt': [defaultBucket, 'Arn'] });
    expect(list?.Condition).toEqual({ StringEquals: { 's3:prefix': ['_sluice/captures/acme/pg.json'] } });
    const { props } = functionOfTask(template, 'capture:acme/pg');
    const env = (props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.SLUICE_BUCKET).toEqual({ Ref: defaultBucket });
  });

  it('materialize-s3 writes under its prefix and reads back only its checkpoint folder (one object per shard)', () => {
    const st = statementsOfRole(template, roleOfTask(template, 'materialization:acme/lake'));
    const lake = st.filter((s) => JSON.stringify(s.Resource).includes('acme-lake'));
    const partition = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, rest]] });
    expect(lake).toEqual([
      { Effect: 'Allow', Action: 's3:PutObject', Resource: partition(':s3:::acme-lake/rollups/*') },
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: partition(':s3:::acme-lake/rollups/_sluice/checkpoints/acme/lake/*'),
      },
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: partition(':s3:::acme-lake'),
        Condition: { StringLike: { 's3:prefix': ['rollups/_sluice/checkpoints/acme/lake/*'] } },
      },
    ]);
  });

  it('an S3 capture without interval keeps no state: no access to the default bucket', () => {
    const st = statementsOfRole(template, roleOfTask(template, 'capture:other/s3'));
    expect(JSON.stringify(st)).not.toContain('_sluice/captures');
  });

  it('only the capture that names a secret may read it, and only that secret', () => {
    const pg = statementsOfRole(template, roleOfTask(template, 'capture:acme/pg'));
    const sm = pg.filter((s) => [s.Action].flat().some((a) => a.startsWith('secretsmanager:')));
    expect(sm).toHaveLength(1);
    expect(sm[0].Action).toBe('secretsmanager:GetSecretValue');
    expect(JSON.stringify(sm[0].Resource)).toContain(':secret:prod/pg-??????');
    const all = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p).includes('secretsmanager:'),
    );
    expect(all).toHaveLength(1);
  });

  it('a materialization may write its own DynamoDB table, never delete tables or touch other tables', () => {
    const st = statementsOfRole(template, roleOfTask(template, 'materialization:acme/to-dynamo'));
    const actions = actionsOf(st);
    expect(actions).toContain('dynamodb:PutItem');
    const create = st.filter((s) => [s.Action].flat().includes('dynamodb:CreateTable'));
    expect(create.map((s) => s.Resource)).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^FlowMaterializationsTablesusertotals/), 'Arn'] },
    ]);
    expect(actions).not.toContain('dynamodb:DeleteTable');
    expect(actions).not.toContain('dynamodb:Scan');
  });
});

describe('secrets', () => {
  it('a literal password never reaches the template, and synth warns about it', () => {
    const cat = fixtureCatalog();
    const pg = cat.captures['acme/pg'].endpoint;
    pg.config = { ...(pg.config as Record<string, string>), password: 'hunter2-literal' };
    const { template: t, stack: s } = synth(cat);
    expect(JSON.stringify(t.toJSON())).not.toContain('hunter2-literal');
    const warnings = Annotations.fromStack(s).findWarning(
      '*',
      Match.stringLikeRegexp('password.*credential written in clear'),
    );
    expect(warnings).toHaveLength(1);
  });
});

describe('monitoring', () => {
  it('one dashboard with per-task documents, bytes, errors, iterator age, schema violations, DLQ depth', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [dash] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(stack.resolve(dash.Properties.DashboardBody));
    // Parked and redriven documents are graphed for tasks under `park` only (park-policy.test.ts).
    const parkOnly: string[] = [SLUICE_METRICS.docsParked, SLUICE_METRICS.docsRedriven];
    expect(body).not.toContain(SLUICE_METRICS.docsParked);
    for (const m of [
      ...Object.values(SLUICE_METRICS).filter((m) => !parkOnly.includes(m)),
      'IteratorAge',
      'Errors',
      'ApproximateNumberOfMessagesVisible',
    ]) {
      expect(body).toContain(m);
    }
    for (const label of [
      'capture:acme/ingest',
      'derivation:acme/totals',
      'materialization:acme/lake',
      'persister:other/files',
    ]) {
      expect(body).toContain(label);
    }
  });

  it('alarms: DLQ depth ≥ 1, iterator age > 10 min, errors, schema violations', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: ALARM_THRESHOLDS.dlqMessages,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'IteratorAge',
      Threshold: 600000,
      EvaluationPeriods: 3,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: SLUICE_METRICS.schemaViolations,
      Namespace: 'Sluice',
      Dimensions: [{ Name: 'service', Value: 'derivation:acme/totals' }],
    });
    // 10 tasks × (errors + violations) + 7 stream consumers' iterator age + 2 DLQs (the captures'
    // EventBridge targets; stream consumers halt instead of parking batches)
    template.resourceCountIs('AWS::CloudWatch::Alarm', 10 * 2 + 7 + 2);
  });
});

describe('stable construct ids', () => {
  it('the same catalog twice gives the same logical ids', () => {
    const a = logicalIds(synth(fixtureCatalog()).template);
    const b = logicalIds(synth(fixtureCatalog()).template);
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
  });

  it('adding an unrelated collection and capture changes no existing logical id', () => {
    const before = logicalIds(synth(fixtureCatalog()).template);
    const cat = fixtureCatalog();
    cat.collections['aaa/first'] = {
      ...cat.collections['acme/orders'],
      name: 'aaa/first',
      source: loc('/collections/aaa~1first'),
    };
    cat.captures['aaa/hook'] = {
      ...cat.captures['acme/ingest'],
      name: 'aaa/hook',
      bindings: [{ resource: {}, target: 'aaa/first', disable: false, backfill: 0 }],
    };
    const after = logicalIds(synth(cat).template);
    for (const [id, type] of before) expect(after.get(id), id).toBe(type);
    expect(after.size).toBeGreaterThan(before.size);
  });
});

describe('fails if', () => {
  const build =
    (cat: BuiltCatalog, props: Record<string, unknown> = {}) =>
    () =>
      new SluiceCatalog(new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'F'), 'Flow', {
        catalog: cat,
        ...props,
      });

  it('a stream override names no collection', () => {
    expect(build(fixtureCatalog(), { streams: { 'acme/nope': { shards: 2 } } })).toThrow(
      /InvalidOverride.*no collection named acme\/nope/,
    );
  });

  it('a stream override asks for 0 shards', () => {
    expect(build(fixtureCatalog(), { streams: { 'acme/orders': { shards: 0 } } })).toThrow(
      DeployUnsupportedError,
    );
  });

  it('a storage mapping names a GCS store', () => {
    const cat = fixtureCatalog();
    cat.storageMappings['acme/'].stores = [{ provider: 'GCS', bucket: 'g' }];
    expect(build(cat)).toThrow(/UnsupportedStore.*GCS store/);
  });

  it('a materialize-dynamodb binding has a 3-part key', () => {
    const cat = fixtureCatalog();
    cat.collections['acme/totals'].key = ['/user', '/day', '/n'];
    expect(build(cat)).toThrow(/at most 2 locations/);
  });

  it('retention is set on a collection whose bucket is imported', () => {
    expect(build(fixtureCatalog(), { buckets: 'import' })).toThrow(/retention needs a lifecycle rule/);
  });
});
