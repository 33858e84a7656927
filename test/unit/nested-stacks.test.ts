/**
 * The local stack folds nested stacks into their parent (shared/local/assembly/nested.ts): parameters
 * become the values the parent passes, nested resources are renamed consistently, outputs the parent
 * reads become their values, and what cannot be found says where.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AssemblyError } from '../../shared/local/assembly/errors.ts';
import { type CfnResource, makeIntrinsics } from '../../shared/local/assembly/intrinsics.ts';
import { flattenNested } from '../../shared/local/assembly/nested.ts';

const NESTED_ID = 'FlowPersistersacmeeventsNestedStackacmeeventsNestedStackResourceEF6AB947';

function assembly(child: unknown): { dir: string; parent: { Resources: Record<string, CfnResource> } } {
  const dir = mkdtempSync(join(tmpdir(), 'nested-'));
  writeFileSync(join(dir, 'child.nested.template.json'), JSON.stringify(child));
  const parent = {
    Resources: {
      Stream: { Type: 'AWS::Kinesis::Stream', Properties: { Name: 'events' } },
      [NESTED_ID]: {
        Type: 'AWS::CloudFormation::Stack',
        Properties: { Parameters: { StreamArn: { 'Fn::GetAtt': ['Stream', 'Arn'] } } },
        Metadata: { 'aws:asset:path': 'child.nested.template.json' },
      },
      Dashboard: {
        Type: 'AWS::CloudWatch::Dashboard',
        Properties: {
          DashboardBody: { 'Fn::Join': ['', ['fn=', { 'Fn::GetAtt': [NESTED_ID, 'Outputs.FnName'] }]] },
          Other: { 'Fn::Sub': `x \${${NESTED_ID}.Outputs.FnName} y` },
        },
        DependsOn: [NESTED_ID, 'Stream'],
      },
    },
  };
  return { dir, parent };
}

const CHILD = {
  Parameters: { StreamArn: { Type: 'String' }, Mode: { Type: 'String', Default: 'on' } },
  Resources: {
    Role: { Type: 'AWS::IAM::Role', Properties: {} },
    Fn: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Role: { 'Fn::GetAtt': ['Role', 'Arn'] },
        Environment: {
          Variables: {
            MODE: { Ref: 'Mode' },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub template
            WHERE: { 'Fn::Sub': '${StreamArn}/${Role.Arn}/${AWS::Region}' },
          },
        },
      },
      DependsOn: ['Role'],
    },
    Mapping: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: { FunctionName: { Ref: 'Fn' }, EventSourceArn: { Ref: 'StreamArn' } },
    },
  },
  Outputs: { FnName: { Value: { Ref: 'Fn' } } },
};

describe('nested stacks in the local stack', () => {
  it('folds the nested resources in under a short prefix, with parameters and outputs resolved', () => {
    const { dir, parent } = assembly(CHILD);
    const r = flattenNested(dir, parent, 'Test');
    expect(Object.keys(r).sort()).toEqual(
      [
        'Dashboard',
        'FlowPersistersacmeeventsFn',
        'FlowPersistersacmeeventsMapping',
        'FlowPersistersacmeeventsRole',
        'Stream',
      ].sort(),
    );
    const fn = r.FlowPersistersacmeeventsFn;
    expect(fn.DependsOn).toEqual(['FlowPersistersacmeeventsRole']);
    expect(r.FlowPersistersacmeeventsMapping.Properties).toEqual({
      FunctionName: { Ref: 'FlowPersistersacmeeventsFn' },
      EventSourceArn: { 'Fn::GetAtt': ['Stream', 'Arn'] },
    });
    expect(r.Dashboard.DependsOn).toEqual(['Stream']);
    const x = makeIntrinsics('Test', r, { region: 'us-east-1', account: '000000000000' });
    expect(x.resolve(fn.Properties)).toMatchObject({
      Role: 'arn:aws:iam::000000000000:role/Test-FlowPersistersacmeeventsRole',
      Environment: {
        Variables: {
          MODE: 'on',
          WHERE:
            'arn:aws:kinesis:us-east-1:000000000000:stream/events/arn:aws:iam::000000000000:role/Test-FlowPersistersacmeeventsRole/us-east-1',
        },
      },
    });
    expect(x.resolve(r.Dashboard.Properties)).toEqual({
      DashboardBody: 'fn=Test-FlowPersistersacmeeventsFn',
      Other: 'x Test-FlowPersistersacmeeventsFn y',
    });
  });

  it('keeps the whole logical id as prefix when two nested stacks would share the short one', () => {
    const twin = `FlowPersistersacmeeventsNestedStackacmeeventsNestedStackResource12345678`;
    const { dir, parent } = assembly(CHILD);
    parent.Resources[twin] = { ...parent.Resources[NESTED_ID] };
    const r = flattenNested(dir, parent, 'Test');
    expect(Object.keys(r)).toContain(`${NESTED_ID}Fn`);
    expect(Object.keys(r)).toContain(`${twin}Fn`);
  });

  it('a nested stack without its template, a parameter without a value, an output that is not there: errors that say which', () => {
    const missing = assembly(CHILD);
    missing.parent.Resources[NESTED_ID].Metadata = {};
    expect(() => flattenNested(missing.dir, missing.parent, 'Test')).toThrow(
      new RegExp(`nested stack ${NESTED_ID} has no template in the assembly`),
    );
    const noValue = assembly({ ...CHILD, Parameters: { ...CHILD.Parameters, Needed: { Type: 'String' } } });
    expect(() => flattenNested(noValue.dir, noValue.parent, 'Test')).toThrow(AssemblyError);
    expect(() => flattenNested(noValue.dir, noValue.parent, 'Test')).toThrow(
      /no value for its parameter Needed/,
    );
    const noOutput = assembly({ ...CHILD, Outputs: {} });
    expect(() => flattenNested(noOutput.dir, noOutput.parent, 'Test')).toThrow(/has no output FnName/);
  });
});
