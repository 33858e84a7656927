/**
 * A catalog the size of a database capture (200 tables, each captured and materialized) deploys: every
 * CloudFormation, Lambda, IAM and CloudWatch limit that grows with the catalog holds, in the parent stack
 * and in each nested one. Before the persisters moved into nested stacks, named streams and folder
 * grants, this catalog was 1,900 resources in one stack, each function's environment listed 200 streams
 * (Lambda allows 4 KB) and the materialization's role needed 27 managed policies (IAM allows 10).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SluiceStack } from '../../infra/stack.ts';
import { MAX_STACK_RESOURCES } from '../../infra/stack-budget.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { fixtureCatalog } from './fixture.ts';
import { nagViolations, synth } from './support.ts';

/** The fixture plus `n` tables of its PostgreSQL capture, each materialized to its S3 lake. */
function databaseCatalog(n: number): BuiltCatalog {
  const catalog = fixtureCatalog();
  const base = catalog.collections['acme/orders'];
  const pg = catalog.captures['acme/pg'];
  const lake = catalog.materializations['acme/lake'];
  for (let i = 0; i < n; i++) {
    const name = `acme/cdc/public.customer_order_lines_${i}`;
    catalog.collections[name] = { ...structuredClone(base), name };
    pg.bindings.push({
      ...structuredClone(pg.bindings[0]),
      resource: { name: `customer_order_lines_${i}`, cursor: ['id'] },
      target: name,
    });
    lake.bindings.push({
      ...structuredClone(lake.bindings[0]),
      source: { name },
      resource: { path: `lines_${i}` },
    });
  }
  return catalog;
}

interface Cfn {
  Parameters?: Record<string, unknown>;
  Outputs?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

/** CloudFormation's and the services' limits that a catalog's size moves. */
const LIMITS = {
  /** CloudFormation: template body given by S3 URL (cdk deploy uploads it). */
  templateBytes: 1_000_000,
  parameters: 200,
  outputs: 200,
  /** Lambda: all environment variables of a function together. */
  environmentBytes: 4096,
  /** CloudWatch: widgets on one dashboard. */
  dashboardWidgets: 500,
  /** IAM: all inline policies of a role together (whitespace aside). */
  inlinePolicyChars: 10_240,
};

describe('a catalog of 120 tables, each captured and materialized', () => {
  const n = 200;
  const { app, stack } = synth(databaseCatalog(n));
  const assembly = app.synth();
  const parentFile = assembly.getStackByName(stack.stackName).templateFile;
  const files = [
    parentFile,
    ...stack.node
      .findAll()
      .flatMap((c) => ('templateFile' in c && c !== stack ? [String(c.templateFile)] : [])),
  ];
  const templates = new Map(
    files.map((f) => {
      const text = readFileSync(join(assembly.directory, f), 'utf8');
      return [f, { text, tpl: JSON.parse(text) as Cfn }];
    }),
  );

  it('every stack holds at most 500 resources, 200 parameters and 200 outputs, in a template under 1 MB', () => {
    // The parent and one nested stack per collection's persister.
    expect(templates.size).toBe(1 + Object.keys(stack.flow.catalog.collections).length);
    for (const [f, { tpl }] of templates) {
      expect(Object.keys(tpl.Resources).length, f).toBeLessThanOrEqual(MAX_STACK_RESOURCES);
      expect(Object.keys(tpl.Parameters ?? {}).length, f).toBeLessThanOrEqual(LIMITS.parameters);
      expect(Object.keys(tpl.Outputs ?? {}).length, f).toBeLessThanOrEqual(LIMITS.outputs);
      expect(Buffer.byteLength(JSON.stringify(tpl)), f).toBeLessThan(LIMITS.templateBytes);
    }
  });

  it('every function’s environment fits Lambda’s 4 KB, names of the resources it uses included', () => {
    for (const { tpl } of templates.values())
      for (const [id, r] of Object.entries(tpl.Resources)) {
        if (r.Type !== 'AWS::Lambda::Function') continue;
        const vars = (r.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {};
        // An unresolved reference stands for a generated physical name of up to 128 characters.
        const size = Object.entries(vars).reduce(
          (sum, [k, v]) =>
            sum +
            k.length +
            (typeof v === 'string'
              ? v.length
              : JSON.stringify(v).replace(/\{"(Ref|Fn::GetAtt)":[^}]*\}/g, 'x'.repeat(128)).length),
          0,
        );
        expect(size, id).toBeLessThan(LIMITS.environmentBytes);
      }
  });

  it('one dashboard of at most 500 widgets', () => {
    const dashboards = [...templates.values()].flatMap(({ tpl }) =>
      Object.values(tpl.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard'),
    );
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0].Properties?.DashboardBody);
    const widgets = body.split('\\"type\\":').length - 1;
    expect(widgets).toBeGreaterThan(n / 8);
    expect(widgets).toBeLessThanOrEqual(LIMITS.dashboardWidgets);
  });

  it('every role’s policies fit IAM’s sizes: 10,240 characters inline, no overflow into managed policies', () => {
    for (const [f, { tpl }] of templates) {
      const inline = new Map<string, number>();
      for (const [id, r] of Object.entries(tpl.Resources)) {
        expect(r.Type, `${f} ${id}`).not.toBe('AWS::IAM::ManagedPolicy');
        if (r.Type !== 'AWS::IAM::Policy') continue;
        // A reference stands for the ARN it becomes (about 90 characters for a generated name).
        const text = JSON.stringify(r.Properties?.PolicyDocument).replace(
          /\{"(Ref|Fn::GetAtt)":[^}]*\}/g,
          'x'.repeat(90),
        );
        for (const role of (r.Properties?.Roles ?? []) as { Ref: string }[])
          inline.set(role.Ref, (inline.get(role.Ref) ?? 0) + text.length);
      }
      for (const [role, size] of inline)
        expect(size, `${f} ${role}`).toBeLessThanOrEqual(LIMITS.inlinePolicyChars);
    }
  });

  it('the capture and the materialization are granted the tables’ folder, not each table', () => {
    const parent = templates.get(parentFile)?.tpl as Cfn;
    const text = JSON.stringify(parent.Resources);
    expect(text).toContain(':stream/Test-Flow-acme.cdc.*');
    expect(text).toContain('/flow/acme/cdc/*');
    expect(text).not.toContain('customer_order_lines_7/*');
  });

  it('no AwsSolutions (cdk-nag) violation: each folder wildcard is acknowledged as the least privilege it is', () => {
    const violations = nagViolations((app) => {
      new SluiceStack(app, 'Nag', { catalog: databaseCatalog(12) });
    });
    expect(violations).toEqual([]);
  });
});
