import { App, Stack, Validations } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { SluiceCatalog } from '../../infra/sluice-catalog.ts';
import { fixtureCatalog } from './fixture.ts';
import { deployedTemplate, functionOfTask, nagViolations } from './support.ts';

/** The fixture catalog in a stack with a VPC, its functions placed in its isolated subnets. */
function addFlow(app: App): { stack: Stack; sg: ec2.SecurityGroup } {
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
  return { stack, sg };
}

function build(): { template: Template; sg: string } {
  const { stack, sg } = addFlow(new App({ context: { 'aws:cdk:bundling-stacks': [] } }));
  return {
    template: deployedTemplate(stack),
    sg: stack.getLogicalId(sg.node.defaultChild as ec2.CfnSecurityGroup),
  };
}

describe('VPC placement', () => {
  const { template, sg } = build();

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
    expect(
      nagViolations((app) => {
        addFlow(app);
      }),
    ).toEqual([]);
  });
});
