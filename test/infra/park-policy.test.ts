/**
 * The `park` failure policy as synthesized (SluiceCatalogProps.onFailure): the task's parking place in
 * SLUICE_PARKED, S3 rights on exactly that prefix, a DocsParked alarm; per task by label; nothing for
 * tasks that halt; unknown labels and policies refused with where and what is allowed.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DeployUnsupportedError } from '../../infra/errors.ts';
import { fixtureCatalog } from './fixture.ts';
import {
  actionsOf,
  assertLeastPrivilege,
  functionOfTask,
  roleOfTask,
  statementsOfRole,
  synth,
} from './support.ts';

function parkedAlarms(template: Template) {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
    JSON.stringify(a.Properties).includes('"MetricName":"DocsParked"'),
  );
}

const env = (props: Record<string, unknown>) =>
  ((props.Environment as { Variables?: Record<string, unknown> }).Variables ?? {}) as Record<string, unknown>;

describe('onFailure: park', () => {
  it('per task: only the named task parks, under its own prefix, with exactly the rights it needs', () => {
    const { template } = synth(fixtureCatalog(), { onFailure: { 'derivation:acme/totals': 'park' } });
    const parked = env(functionOfTask(template, 'derivation:acme/totals').props).SLUICE_PARKED;
    expect(JSON.stringify(parked)).toContain('/_sluice/parked/derivation:acme/totals/');
    for (const label of ['persister:acme/events', 'materialization:acme/to-dynamo'])
      expect(env(functionOfTask(template, label).props).SLUICE_PARKED, label).toBeUndefined();

    const statements = statementsOfRole(template, roleOfTask(template, 'derivation:acme/totals'));
    const onPrefix = statements.filter((s) => JSON.stringify(s.Resource).includes('_sluice/parked/'));
    expect(actionsOf(onPrefix)).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(JSON.stringify(onPrefix)).toContain('/_sluice/parked/derivation:acme/totals/*');
    const list = statements.find(
      (s) => s.Action === 's3:ListBucket' && JSON.stringify(s.Condition).includes('_sluice/parked/'),
    );
    expect(list?.Condition).toEqual({
      StringLike: { 's3:prefix': ['_sluice/parked/derivation:acme/totals/*'] },
    });
    // No other task may touch the parking places.
    const persister = statementsOfRole(template, roleOfTask(template, 'persister:acme/events'));
    expect(JSON.stringify(persister)).not.toContain('_sluice/parked');
    assertLeastPrivilege(template);

    const alarms = parkedAlarms(template);
    expect(alarms).toHaveLength(1);
    expect(alarms[0].Properties.Threshold).toBe(1);
    expect(JSON.stringify(alarms[0].Properties)).toContain(
      '{"Dimensions":[{"Name":"service","Value":"derivation:acme/totals"}],"MetricName":"DocsParked","Namespace":"Sluice"}',
    );
    expect(String(alarms[0].Properties.AlarmDescription)).toMatch(/sluice redrive derivation:acme\/totals/);
    // The task's errors widget graphs its parked and redriven documents.
    const [dash] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dash.Properties.DashboardBody);
    expect(body).toContain('DocsParked\\",\\"service\\",\\"derivation:acme/totals');
    expect(body).toContain('DocsRedriven\\",\\"service\\",\\"derivation:acme/totals');
    expect(body).not.toContain('DocsParked\\",\\"service\\",\\"persister:acme/events');
  });

  it("'park' for every task that reads a source: stream tasks, the polling and the S3 capture; not HTTP ingest", () => {
    const { template } = synth(fixtureCatalog(), { onFailure: 'park' });
    for (const label of [
      'persister:acme/events',
      'derivation:acme/totals',
      'materialization:acme/lake',
      'capture:acme/pg',
      'capture:other/s3',
    ])
      expect(JSON.stringify(env(functionOfTask(template, label).props).SLUICE_PARKED), label).toContain(
        `/_sluice/parked/${label}/`,
      );
    // HTTP ingest refuses what it cannot take to its sender (400): nothing to park.
    expect(env(functionOfTask(template, 'capture:acme/ingest').props).SLUICE_PARKED).toBeUndefined();
    expect(parkedAlarms(template)).toHaveLength(9);
    assertLeastPrivilege(template);
  });

  it('per capture: its parking place and rights on exactly it; HTTP ingest refused by label, saying why', () => {
    const { template } = synth(fixtureCatalog(), { onFailure: { 'capture:other/s3': 'park' } });
    expect(JSON.stringify(env(functionOfTask(template, 'capture:other/s3').props).SLUICE_PARKED)).toContain(
      '/_sluice/parked/capture:other/s3/',
    );
    expect(env(functionOfTask(template, 'capture:acme/pg').props).SLUICE_PARKED).toBeUndefined();
    const statements = statementsOfRole(template, roleOfTask(template, 'capture:other/s3'));
    const onPrefix = statements.filter((s) => JSON.stringify(s.Resource).includes('_sluice/parked/'));
    expect(actionsOf(onPrefix)).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(JSON.stringify(onPrefix)).toContain('/_sluice/parked/capture:other/s3/*');
    expect(parkedAlarms(template)).toHaveLength(1);
    expect(() => synth(fixtureCatalog(), { onFailure: { 'capture:acme/ingest': 'park' } })).toThrow(
      /HTTP ingest capture has nothing to park: a document it cannot take is refused to its sender.*at \/capture:acme\/ingest/s,
    );
  });

  it('halt (the default) parks nothing', () => {
    const { template } = synth(fixtureCatalog());
    expect(JSON.stringify(template.toJSON())).not.toContain('_sluice/parked');
  });

  it('an unknown task label or policy is refused, naming it and what is allowed', () => {
    expect(() => synth(fixtureCatalog(), { onFailure: { 'derivation:acme/nope': 'park' } })).toThrow(
      DeployUnsupportedError,
    );
    expect(() => synth(fixtureCatalog(), { onFailure: { 'derivation:acme/nope': 'park' } })).toThrow(
      /onFailure.*derivation:acme\/nope.*those that can: persister:acme\/events/s,
    );
    expect(() => synth(fixtureCatalog(), { onFailure: 'skip' as unknown as 'park' })).toThrow(
      /expected 'halt' or 'park'/,
    );
  });
});
