/**
 * Event-source mappings as synthesized: by default a stream consumer halts at a failing document
 * (bisect down to it, report it, retry it until it succeeds; nothing is ever parked or skipped), and
 * no policy gives a batch up (the old `dead-letter` opt-in, which did, is refused at synth).
 */
import { Duration } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DeployUnsupportedError } from '../../infra/errors.ts';
import { DEFAULT_EVENT_SOURCE } from '../../infra/event-source.ts';
import { fixtureCatalog } from './fixture.ts';
import { functionOfTask, synth } from './support.ts';

const CONSUMERS = [
  'persister:acme/events',
  'persister:acme/totals',
  'persister:acme/orders',
  'persister:other/files',
  'derivation:acme/totals',
  'materialization:acme/to-dynamo',
  'materialization:acme/lake',
];

function mappings(template: Template): Record<string, unknown>[] {
  return Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).map(
    (m) => m.Properties as Record<string, unknown>,
  );
}

function queuesOf(template: Template): string[] {
  return Object.keys(template.findResources('AWS::SQS::Queue'));
}

describe('event-source mapping defaults', () => {
  it('one exported constant: batch 500, no batching window (10 s for persisters), bisect, ReportBatchItemFailures, halt, one batch per shard', () => {
    expect(DEFAULT_EVENT_SOURCE).toEqual({
      batchSize: 500,
      maxBatchingWindow: Duration.seconds(0),
      persisterBatchingWindow: Duration.seconds(10),
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      failure: { policy: 'halt' },
      parallelizationFactor: 1,
    });
  });

  it('every synthesized mapping retries a failing record until it succeeds and has no on-failure destination', () => {
    const { template } = synth(fixtureCatalog());
    const all = mappings(template);
    expect(all).toHaveLength(CONSUMERS.length);
    for (const p of all) {
      expect(p).toMatchObject({
        BatchSize: 500,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: -1,
        MaximumRecordAgeInSeconds: -1,
        ParallelizationFactor: 1,
        StartingPosition: 'TRIM_HORIZON',
      });
      expect(p.DestinationConfig).toBeUndefined();
    }
  });

  it('persisters batch in a 10 s window, every other consumer invokes at once (the ingest → materialized path)', () => {
    const { template } = synth(fixtureCatalog());
    const all = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    for (const label of CONSUMERS) {
      const { id } = functionOfTask(template, label);
      const own = all.filter((m) => JSON.stringify(m.Properties.FunctionName).includes(id));
      expect(own.length, label).toBeGreaterThan(0);
      for (const m of own)
        expect(m.Properties.MaximumBatchingWindowInSeconds, label).toBe(
          label.startsWith('persister:') ? 10 : 0,
        );
    }
  });

  it('stream consumers get no dead-letter queue; captures keep theirs (their EventBridge targets park there)', () => {
    const { template, stack } = synth(fixtureCatalog());
    for (const label of CONSUMERS) expect(stack.flow.deadLetterQueues.has(label), label).toBe(false);
    expect([...stack.flow.deadLetterQueues.keys()].sort()).toEqual(['capture:acme/pg', 'capture:other/s3']);
    expect(queuesOf(template)).toHaveLength(2);
    const { id } = functionOfTask(template, 'capture:other/s3');
    const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((r) =>
      JSON.stringify(r.Properties.Targets).includes(id),
    );
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules)
      expect(JSON.stringify(r.Properties.Targets)).toMatch(/"DeadLetterConfig":\{"Arn":\{"Fn::GetAtt"/);
  });

  it("the skipping 'dead-letter' policy is refused at synth, naming onFailure: 'park' instead", () => {
    const refused = { eventSource: { failure: { policy: 'dead-letter' } } } as unknown as Parameters<
      typeof synth
    >[1];
    expect(() => synth(fixtureCatalog(), refused)).toThrow(DeployUnsupportedError);
    expect(() => synth(fixtureCatalog(), refused)).toThrow(
      /SluiceCatalogProps\.eventSource: InvalidOverride: only 'halt'.*onFailure: 'park'.*at \/failure\/policy; found "dead-letter"/s,
    );
  });
});
