/**
 * Least privilege per task kind (issue 10, item 1): the exact action × resource set of every role of the
 * fixture catalog. A grant added or widened anywhere fails here, by role. Resources are rendered readably:
 * `<LogicalIdWithoutHash>` for a resource of the stack, `arn:<Partition>:…` for an ARN built from names.
 */

import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureCatalog } from './fixture.ts';
import { asArray, roleOfTask, type Statement, statementsOfRole, synth } from './support.ts';

let template: Template;

beforeAll(() => {
  ({ template } = synth(fixtureCatalog()));
});

/** A CloudFormation value as readable text: logical ids lose their 8-hex hash suffix. */
function render(v: unknown): string {
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  if ('Fn::GetAtt' in o) return `<${String((o['Fn::GetAtt'] as string[])[0]).replace(/[0-9A-F]{8}$/, '')}>`;
  if ('Ref' in o)
    return `<${String(o.Ref)
      .replace(/^AWS::/, '')
      .replace(/[0-9A-F]{8}$/, '')}>`;
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(sep);
  }
  return JSON.stringify(v);
}

/** Every (action, resource, condition) the role allows, one line each, sorted. */
function grants(label: string): string[] {
  const out = new Set<string>();
  for (const st of statementsOfRole(template, roleOfTask(template, label)) as Statement[]) {
    const cond = st.Condition ? ` if ${JSON.stringify(st.Condition)}` : '';
    for (const a of asArray(st.Action))
      for (const r of asArray(st.Resource)) out.add(`${a} ${render(r)}${cond}`);
  }
  return [...out].sort();
}

const KINESIS_READ = [
  'kinesis:DescribeStream',
  'kinesis:DescribeStreamConsumer',
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
  'kinesis:ListStreams',
  'kinesis:SubscribeToShard',
];
// GetShardIterator and GetRecords on the written stream only: a PutRecords whose answer was lost is
// settled by reading for its records before any is sent again.
const KINESIS_WRITE = [
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
  'kinesis:PutRecord',
  'kinesis:PutRecords',
];
const on = (actions: string[], resource: string, cond = '') => actions.map((a) => `${a} ${resource}${cond}`);
const leading = (p: string) => ` if {"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${p}"]}}`;
const logs = (fn: string) => on(['logs:CreateLogStream', 'logs:PutLogEvents'], `<${fn}FunctionLogs>`);
const sorted = (xs: string[]) => [...new Set(xs)].sort();

describe('each role allows exactly what its task does', () => {
  it('HTTP ingest: writes its target stream; no DynamoDB, no S3, no secret', () => {
    expect(grants('capture:acme/ingest')).toEqual(
      sorted([...logs('FlowCapturesacmeingest'), ...on(KINESIS_WRITE, '<FlowCollectionsacmeeventsStream>')]),
    );
  });

  it('polling PostgreSQL capture: its target stream, its own state object, its own secret', () => {
    expect(grants('capture:acme/pg')).toEqual(
      sorted([
        ...logs('FlowCapturesacmepg'),
        ...on(KINESIS_WRITE, '<FlowCollectionsacmeordersStream>'),
        ...on(
          ['s3:GetObject', 's3:PutObject'],
          '<FlowCollectionsBucketsDefaultFragments>/_sluice/captures/acme/pg.json',
        ),
        ...on(
          ['s3:ListBucket'],
          '<FlowCollectionsBucketsDefaultFragments>',
          ' if {"StringEquals":{"s3:prefix":["_sluice/captures/acme/pg.json"]}}',
        ),
        'secretsmanager:GetSecretValue arn:<Partition>:secretsmanager:<Region>:<AccountId>:secret:prod/pg-??????',
      ]),
    );
  });

  it('S3 capture: its target stream and the objects under its configured prefix', () => {
    expect(grants('capture:other/s3')).toEqual(
      sorted([
        ...logs('FlowCapturesothers3'),
        ...on(KINESIS_WRITE, '<FlowCollectionsotherfilesStream>'),
        's3:GetObject arn:<Partition>:s3:::partner-drop/incoming/*',
        's3:ListBucket arn:<Partition>:s3:::partner-drop if {"StringLike":{"s3:prefix":["incoming/*"]}}',
      ]),
    );
  });

  it('persister: reads its stream, writes its fragments and spilled documents, and is the only writer of its reduced view', () => {
    expect(grants('persister:acme/events')).toEqual(
      sorted([
        ...logs('FlowPersistersacmeevents'),
        ...on(KINESIS_READ, '<FlowCollectionsacmeeventsStream>'),
        ...on(['dynamodb:BatchGetItem', 'dynamodb:PutItem'], '<FlowState>', leading('s#acme/events')),
        ...on(['s3:GetObject', 's3:PutObject'], '<FlowCollectionsBucketsacmeflowdata>/flow/acme/events/*'),
        // Reduced documents too large for an item: beside the fragment folder (its retention rule), not in it.
        ...on(
          ['s3:GetObject', 's3:PutObject'],
          '<FlowCollectionsBucketsacmeflowdata>/flow/_sluice/spill/view/acme/events/*',
        ),
        's3:ListBucket <FlowCollectionsBucketsacmeflowdata> if {"StringLike":{"s3:prefix":["flow/acme/events/*"]}}',
      ]),
    );
  });

  it('derivation (user code): reads its sources, writes its stream, and touches only its own watermarks', () => {
    expect(grants('derivation:acme/totals')).toEqual(
      sorted([
        ...logs('FlowDerivationsacmetotals'),
        ...on(KINESIS_READ, '<FlowCollectionsacmeeventsStream>'),
        ...on(KINESIS_WRITE, '<FlowCollectionsacmetotalsStream>'),
        ...on(['dynamodb:GetItem', 'dynamodb:PutItem'], '<FlowState>', leading('c#derivation:acme/totals')),
      ]),
    );
  });

  it('a stateful derivation also keeps its state pages in its own partition (BatchGetItem, DeleteItem)', () => {
    const cat = fixtureCatalog();
    const totals = cat.collections['acme/totals'];
    cat.collections['acme/totals'] = {
      ...totals,
      derive: { ...(totals.derive as NonNullable<typeof totals.derive>), stateful: true },
    };
    const { template: t } = synth(cat);
    const st = statementsOfRole(t, roleOfTask(t, 'derivation:acme/totals')).filter((x) =>
      JSON.stringify(x).includes('LeadingKeys'),
    );
    expect(st).toHaveLength(1);
    expect(st[0].Action).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
    ]);
    expect(st[0].Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['c#derivation:acme/totals'] },
    });
  });

  it('the persister and the derivation of one collection share no state partition', () => {
    const partitions = (label: string) =>
      grants(label)
        .filter((g) => g.includes('LeadingKeys'))
        .map((g) => g.replace(/.*LeadingKeys":\["([^"]+)".*/, '$1'));
    const persister = new Set(partitions('persister:acme/totals'));
    expect(persister).toEqual(new Set(['s#acme/totals']));
    for (const p of partitions('derivation:acme/totals')) expect(persister.has(p)).toBe(false);
  });

  it('materialize-dynamodb: reads its sources (stream, fragments), writes its table, its own checkpoints and spilled items', () => {
    expect(grants('materialization:acme/to-dynamo')).toEqual(
      sorted([
        ...logs('FlowMaterializationsacmetodynamo'),
        ...on(
          ['s3:GetObject', 's3:PutObject'],
          '<FlowCollectionsBucketsDefaultFragments>/_sluice/spill/materialization/acme/to-dynamo/*',
        ),
        ...on(KINESIS_READ, '<FlowCollectionsacmetotalsStream>'),
        ...on(
          [
            'dynamodb:BatchGetItem',
            'dynamodb:DeleteItem',
            'dynamodb:PutItem',
            'dynamodb:Query',
            'dynamodb:UpdateItem',
          ],
          '<FlowState>',
          leading('c#materialization:acme/to-dynamo'),
        ),
        's3:GetObject <FlowCollectionsBucketsacmeflowdata>/flow/acme/totals/*',
        's3:ListBucket <FlowCollectionsBucketsacmeflowdata> if {"StringLike":{"s3:prefix":["flow/acme/totals/*"]}}',
        ...on(
          [
            'dynamodb:BatchGetItem',
            'dynamodb:CreateTable',
            'dynamodb:DeleteItem',
            'dynamodb:DescribeTable',
            'dynamodb:PutItem',
          ],
          '<FlowMaterializationsTablesusertotals>',
        ),
      ]),
    );
  });

  it('materialize-s3: reads its sources, writes under its prefix, reads back its checkpoint; in the state table only its backfill lease', () => {
    expect(grants('materialization:acme/lake')).toEqual(
      sorted([
        ...logs('FlowMaterializationsacmelake'),
        ...on(KINESIS_READ, '<FlowCollectionsacmeordersStream>'),
        ...on(
          ['dynamodb:DeleteItem', 'dynamodb:PutItem'],
          '<FlowState>',
          leading('c#materialization:acme/lake'),
        ),
        's3:GetObject <FlowCollectionsBucketsacmeflowdata>/flow/acme/orders/*',
        's3:ListBucket <FlowCollectionsBucketsacmeflowdata> if {"StringLike":{"s3:prefix":["flow/acme/orders/*"]}}',
        's3:PutObject arn:<Partition>:s3:::acme-lake/rollups/*',
        's3:GetObject arn:<Partition>:s3:::acme-lake/rollups/_sluice/checkpoints/acme/lake/*',
        's3:ListBucket arn:<Partition>:s3:::acme-lake if {"StringLike":{"s3:prefix":["rollups/_sluice/checkpoints/acme/lake/*"]}}',
      ]),
    );
  });
});
