/**
 * Issue 10, item 8 (infra): what `cdk destroy` keeps (dead-letter queues and log groups: the record of
 * failed capture invocations and halted tasks), ingest reserved concurrency, kms:Decrypt for secrets under a customer key.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { SluiceCatalog } from '../../infra/sluice-catalog.ts';
import { fixtureCatalog } from './fixture.ts';
import { deployedTemplate, functionOfTask, roleOfTask, statementsOfRole, synth } from './support.ts';

describe('retained on destroy', () => {
  // The fixture's polling captures have dead-letter queues (their EventBridge targets' failed invocations).
  const { template } = synth(fixtureCatalog());

  it('every log group and every dead-letter queue', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) expect([g.DeletionPolicy, g.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
    const queues = Object.values(template.findResources('AWS::SQS::Queue'));
    expect(queues.length).toBeGreaterThan(0);
    for (const q of queues) expect([q.DeletionPolicy, q.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
  });
});

describe('tombstone TTL', () => {
  it('the state table expires items by `ttl`; each persister gets its stream retention + 1 day', () => {
    const { template } = synth(fixtureCatalog(), { streams: { 'acme/orders': { retentionHours: 48 } } });
    const [table] = Object.values(
      template.findResources('AWS::DynamoDB::GlobalTable', {
        Properties: {
          KeySchema: [
            { AttributeName: 'p', KeyType: 'HASH' },
            { AttributeName: 'k', KeyType: 'RANGE' },
          ],
        },
      }),
    );
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    const env = (label: string) =>
      (functionOfTask(template, label).props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env('persister:acme/orders').SLUICE_TOMBSTONE_TTL_SECONDS).toBe(String(72 * 3600));
    expect(env('persister:acme/events').SLUICE_TOMBSTONE_TTL_SECONDS).toBe(String(48 * 3600));
    expect(env('derivation:acme/totals').SLUICE_TOMBSTONE_TTL_SECONDS).toBeUndefined();
  });

  it("materialize-dynamodb's tombstones (in the state table, so the same `ttl` attribute) expire a day after any replay of its sources", () => {
    const { template } = synth(fixtureCatalog(), { streams: { 'acme/totals': { retentionHours: 96 } } });
    const env = (label: string) =>
      (functionOfTask(template, label).props.Environment as { Variables: Record<string, unknown> }).Variables;
    // acme/totals (96 h) is derived from acme/events (24 h): a derivation starting over re-publishes
    // what acme/events still holds, which then sits in acme/totals for 96 h. + 1 day.
    expect(env('materialization:acme/to-dynamo').SLUICE_TOMBSTONE_TTL_SECONDS).toBe(
      String((96 + 24 + 24) * 3600),
    );
    expect(env('persister:acme/totals').SLUICE_TOMBSTONE_TTL_SECONDS).toBe(String((96 + 24 + 24) * 3600));
    // Materializations without tombstones get none.
    expect(env('materialization:acme/lake').SLUICE_TOMBSTONE_TTL_SECONDS).toBeUndefined();
  });
});

describe('applied-map pruning horizon', () => {
  const env = (template: ReturnType<typeof synth>['template'], label: string) =>
    (functionOfTask(template, label).props.Environment as { Variables: Record<string, unknown> }).Variables;

  it("a persister prunes entries a day past its stream's retention", () => {
    const { template } = synth(fixtureCatalog(), { streams: { 'acme/orders': { retentionHours: 48 } } });
    expect(env(template, 'persister:acme/orders').SLUICE_APPLIED_HORIZON_SECONDS).toBe(String(72 * 3600));
    // A derivation's origin watermarks expire a day past its sources' replay window (acme/events: 24 h).
    expect(env(template, 'derivation:acme/totals').SLUICE_APPLIED_HORIZON_SECONDS).toBe(
      String((24 + 24) * 3600),
    );
    // A derived collection's positions are its documents' origins: upstream's retention adds up.
    expect(env(template, 'persister:acme/totals').SLUICE_APPLIED_HORIZON_SECONDS).toBe(
      String((24 + 24 + 24) * 3600),
    );
  });

  it('materialize-dynamodb prunes only when its sources’ fragments expire (a re-backfill replays them), after stream + fragment retention + 1 day', () => {
    // acme/totals keeps its fragments forever: a re-backfill could replay any of them, so nothing is pruned.
    const { template } = synth(fixtureCatalog());
    expect(env(template, 'materialization:acme/to-dynamo').SLUICE_APPLIED_HORIZON_SECONDS).toBeUndefined();
    const cat = fixtureCatalog();
    cat.collections['acme/totals'] = {
      ...cat.collections['acme/totals'],
      journals: { fragments: { retention: '240h' } },
    };
    const { template: expiring } = synth(cat, { streams: { 'acme/totals': { retentionHours: 48 } } });
    // Stream retention of acme/totals and of acme/events upstream, the fragments' retention, a day.
    expect(env(expiring, 'materialization:acme/to-dynamo').SLUICE_APPLIED_HORIZON_SECONDS).toBe(
      String((48 + 24 + 240 + 24) * 3600),
    );
  });
});

describe('ingestReservedConcurrency', () => {
  it('caps the HTTP ingest function only; the polling capture keeps its 1', () => {
    const { template } = synth(fixtureCatalog(), { ingestReservedConcurrency: 20 });
    expect(functionOfTask(template, 'capture:acme/ingest').props.ReservedConcurrentExecutions).toBe(20);
    expect(functionOfTask(template, 'capture:acme/pg').props.ReservedConcurrentExecutions).toBe(1);
    expect(
      functionOfTask(template, 'derivation:acme/totals').props.ReservedConcurrentExecutions,
    ).toBeUndefined();
    const { template: plain } = synth(fixtureCatalog());
    expect(functionOfTask(plain, 'capture:acme/ingest').props.ReservedConcurrentExecutions).toBeUndefined();
  });
});

describe('secretsKeys', () => {
  it('a function reading a secret may kms:Decrypt with the customer key, only via Secrets Manager; others may not', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Keys');
    const key = new kms.Key(stack, 'SecretsKey', { enableKeyRotation: true });
    new SluiceCatalog(stack, 'Flow', { catalog: fixtureCatalog(), secretsKeys: [key] });
    const template = deployedTemplate(stack);
    const keyId = stack.getLogicalId(key.node.defaultChild as kms.CfnKey);
    const decrypt = (label: string) =>
      statementsOfRole(template, roleOfTask(template, label)).filter((s) =>
        [s.Action].flat().includes('kms:Decrypt'),
      );
    expect(decrypt('capture:acme/pg')).toEqual([
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        Condition: {
          StringEquals: {
            'kms:ViaService': [
              { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
            ],
          },
        },
      },
    ]);
    expect(decrypt('capture:acme/ingest')).toEqual([]);
    expect(decrypt('materialization:acme/lake')).toEqual([]);
  });
});
