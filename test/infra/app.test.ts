/**
 * The CDK app and the path-based construct against real catalogs (the examples, Estuary's bank
 * example, a broken catalog), with cdk-nag's AwsSolutions pack. Bundling is skipped here (handler
 * bundles are measured in bundle-size.test.ts); `npx cdk synth` with bundling is shown in docs/deploy.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript launcher helper, no declarations
import { compiledIsCurrent } from '../../bin/compiled.js';
import { CatalogInvalidError } from '../../infra/errors.ts';
import { SluiceCatalog } from '../../infra/sluice-catalog.ts';
import { SluiceStack, stackNameFor } from '../../infra/stack.ts';
import { formatDiagnostics } from '../../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { nagViolations, validationViolations } from './support.ts';

const EXAMPLES = [
  'examples/clickstream/flow.yaml',
  'examples/fraud/flow.yaml',
  'examples/warehouse/flow.yaml',
];
const BROKEN = 'test/fixtures/broken/flow.yaml';

function runNode(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env, CDK_DISABLE_VERSION_CHECK: '1' },
  });
}

describe('the CDK app (infra/app.ts)', () => {
  it('a catalog with errors fails synth with exactly the diagnostics and status of `sluice check`', () => {
    const out = mkdtempSync(join(tmpdir(), 'sluice-cdk-'));
    const app = runNode(['infra/app.ts'], {
      CDK_OUTDIR: out,
      CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], catalog: BROKEN }),
    });
    const check = runNode(['bin/sluice.js', 'check', BROKEN]);
    expect(check.status).toBe(2);
    expect(app.status).toBe(2);
    expect(app.stderr).toContain('UnknownCollection');
    expect(app.stderr).toBe(check.stderr);
  });

  it("cdk.json's app (bin/cdk-app.js) synthesizes the clickstream example into one stack named for the catalog, compiled when dist/ is current and from the sources otherwise, to the same template", () => {
    const cdkJson = JSON.parse(readFileSync('cdk.json', 'utf8')) as { app: string };
    expect(cdkJson.app).toBe('node bin/cdk-app.js');
    const synthWith = (env: Record<string, string>) => {
      const out = mkdtempSync(join(tmpdir(), 'sluice-cdk-'));
      const r = spawnSync(process.execPath, ['bin/cdk-app.js'], {
        encoding: 'utf8',
        env: {
          ...process.env,
          ...env,
          CDK_DISABLE_VERSION_CHECK: '1',
          CDK_OUTDIR: out,
          CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], catalog: EXAMPLES[0] }),
        },
      });
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      const read = (f: string) => readFileSync(join(out, f), 'utf8');
      // The stack's creation trace names the app module that ran.
      const meta = JSON.parse(read('Sluice-clickstream.metadata.json')) as Record<
        string,
        { type: string; data: string[] }[]
      >;
      const trace = meta['/Sluice-clickstream'].find((m) => m.type === 'aws:cdk:creationStack')?.data;
      return { template: read('Sluice-clickstream.template.json'), trace: String(trace) };
    };
    const fromSource = synthWith({ SLUICE_FROM_SOURCE: '1' });
    expect(fromSource.trace).toContain(join('infra', 'app.ts'));
    const chosen = synthWith({});
    // `npm ci` builds dist/ (prepare); an edit not rebuilt yet makes it stale, and then the sources run.
    expect(chosen.trace).toContain(compiledIsCurrent() ? 'dist/infra/app.js' : join('infra', 'app.ts'));
    expect(chosen.template).toBe(fromSource.template);
    const template = JSON.parse(chosen.template) as { Resources: Record<string, { Type: string }> };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::Kinesis::Stream')).toHaveLength(2);
    expect(types).toContain('AWS::Lambda::Url');
  });

  it('stack names derive from the catalog path', () => {
    expect(stackNameFor('examples/clickstream/flow.yaml')).toBe('Sluice-clickstream');
    expect(stackNameFor('./my_flows/orders.flow.yaml')).toBe('Sluice-orders-flow');
    expect(stackNameFor('flow.yaml')).toBe('Sluice-flow');
  });
});

describe("cdk-nag AwsSolutions and CDK's CloudFormation validation", () => {
  // `sluice dev` synthesizes without CDK's built-in CloudFormation validation (its warnings were never
  // shown there, and it cost ≈ 3.5 s of every synth): this is where every example's template is held
  // to it, as `cdk synth` and `cdk deploy` run it.
  for (const path of [...EXAMPLES, 'examples/estuary-style/flow.yaml', 'test/fixtures/bank/flow.yaml']) {
    it(`no AwsSolutions violation and no CloudFormation Validate finding for ${path}`, async () => {
      const { catalog } = await loadCatalog(path);
      expect(catalog).toBeDefined();
      const violations = validationViolations((app) => {
        new SluiceStack(app, stackNameFor(path), { catalog: catalog as NonNullable<typeof catalog> });
      });
      // cdk-nag's plugin has a report only when it finds something; CloudFormation Validate always has one.
      expect(violations.AwsSolutions ?? []).toEqual([]);
      expect(violations['CloudFormation Validate']).toEqual([]);
    });
  }

  it('CloudFormation Validate reports a template CloudFormation would reject', async () => {
    const { catalog } = await loadCatalog(EXAMPLES[0]);
    const violations = validationViolations((app) => {
      const stack = new SluiceStack(app, 'Cfn', { catalog: catalog as NonNullable<typeof catalog> });
      new CfnResource(stack, 'Wrong', {
        type: 'AWS::Kinesis::Stream',
        properties: { ShardCount: 'many', RetentionPeriodHours: 1 },
      });
    });
    expect(violations['CloudFormation Validate']?.length).toBeGreaterThan(0);
    expect(violations['CloudFormation Validate']?.every((v) => v.endsWith(' Cfn/Wrong'))).toBe(true);
  });

  it('fails if a resource breaks a rule: an unencrypted-transport, unlogged bucket next to the catalog', async () => {
    const { catalog } = await loadCatalog(EXAMPLES[0]);
    const violations = nagViolations((app) => {
      const stack = new SluiceStack(app, 'Nag', { catalog: catalog as NonNullable<typeof catalog> });
      new s3.Bucket(stack, 'Careless');
    });
    expect(violations).toEqual([
      'AwsSolutions-S1 Nag/Careless/Resource',
      'AwsSolutions-S10 Nag/Careless/Resource',
    ]);
  });
});

describe('SluiceCatalog({ catalog: path })', () => {
  it('loads the catalog synchronously', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'P');
    const flow = new SluiceCatalog(stack, 'Flow', { catalog: 'examples/fraud/flow.yaml' });
    expect(Object.keys(flow.catalog.collections).sort()).toEqual([...flow.streams.keys()].sort());
    expect(flow.streams.size).toBeGreaterThan(0);
  });

  it('throws CatalogInvalidError carrying the loader diagnostics, formatted as `sluice check` does', async () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'P');
    const { diagnostics } = await loadCatalog(BROKEN);
    let err: unknown;
    try {
      new SluiceCatalog(stack, 'Flow', { catalog: BROKEN });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CatalogInvalidError);
    const invalid = err as CatalogInvalidError;
    expect(invalid.code).toBe('CatalogInvalid');
    expect(invalid.formatted).toBe(formatDiagnostics(diagnostics));
    expect(invalid.diagnostics.map((d) => d.code)).toEqual(diagnostics.map((d) => d.code));
    expect(invalid.message).toContain('UnknownConnector');
  });
});
