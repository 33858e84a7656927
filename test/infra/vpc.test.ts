/**
 * `vpc`, `vpcSubnets`, `securityGroups` (issue 10, item 3): functions of connectors that reach the user's
 * database run in the VPC, with the endpoints they then need; nothing else moves into it; cdk-nag clean.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { SluiceCatalog } from '../../infra/sluice-catalog.ts';
import { fixtureCatalog } from './fixture.ts';
import { deployedTemplate, functionOfTask } from './support.ts';

function build(withNag: boolean): { app: App; template: Template; sg: string } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Net');
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    natGateways: 0,
    maxAzs: 2,
    subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'test VPC: no flow logs needed' });
  const sg = new ec2.SecurityGroup(stack, 'Db', { vpc });
  new SluiceCatalog(stack, 'Flow', {
    catalog: fixtureCatalog(),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    securityGroups: [sg],
  });
  if (withNag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return {
    app,
    template: deployedTemplate(stack),
    sg: stack.getLogicalId(sg.node.defaultChild as ec2.CfnSecurityGroup),
  };
}

describe('VPC placement', () => {
  const { template, sg } = build(false);

  it('the PostgreSQL capture runs in the VPC with the given security groups; tasks that need no VPC stay out', () => {
    const pg = functionOfTask(template, 'capture:acme/pg').props.VpcConfig as {
      SecurityGroupIds: unknown[];
      SubnetIds: unknown[];
    };
    expect(pg.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [sg, 'GroupId'] }]);
    expect(pg.SubnetIds).toHaveLength(2);
    for (const label of [
      'capture:acme/ingest',
      'derivation:acme/totals',
      'persister:acme/events',
      'materialization:acme/lake',
    ])
      expect(functionOfTask(template, label).props.VpcConfig).toBeUndefined();
  });

  it('the endpoints it needs: S3 and DynamoDB gateways, Kinesis and Secrets Manager interfaces (its password is a secret)', () => {
    const services = Object.values(template.findResources('AWS::EC2::VPCEndpoint')).map((r) =>
      JSON.stringify(r.Properties.ServiceName),
    );
    expect(services).toHaveLength(4);
    for (const s of ['.s3', '.dynamodb', 'kinesis-streams', 'secretsmanager'])
      expect(services.some((x) => x.includes(s))).toBe(true);
    expect(services.some((x) => x.includes('.ssm'))).toBe(false);
  });

  it('no cdk-nag finding', () => {
    const { app } = build(true);
    const write = process.stdout.write.bind(process.stdout);
    let dir: string;
    try {
      process.stdout.write = () => true;
      dir = app.synth().directory;
    } catch (e) {
      const m = /found in: (.*)\/validation-report\.json/.exec(String(e));
      if (!m) throw e;
      dir = m[1];
    } finally {
      process.stdout.write = write;
    }
    const report = JSON.parse(readFileSync(join(dir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const found = report.pluginReports.flatMap((p) =>
      p.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)),
    );
    expect(found).toEqual([]);
  });
});
