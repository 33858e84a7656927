/** Helpers for CDK assertion tests: synth without bundling, IAM statement inspection. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type CfnElement, NestedStack, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SluiceStack, type SluiceStackProps } from '../../infra/stack.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import type { CfnResource } from '../../shared/local/assembly/intrinsics.ts';
import { flattenNested } from '../../shared/local/assembly/nested.ts';

export function synth(
  catalog: BuiltCatalog,
  extra: Partial<SluiceStackProps> = {},
): { app: App; stack: SluiceStack; template: Template } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new SluiceStack(app, 'Test', { catalog, ...extra });
  return { app, stack, template: deployedTemplate(stack) };
}

/**
 * The stack's template with its nested stacks (persisters) folded in, as the local stack reads it
 * (shared/local/assembly/nested.ts): one set of resources to assert on, whichever stack holds them.
 * Works with or without asset metadata (apps made in tests often have none): each nested stack's
 * template file is taken from its construct.
 */
export function deployedTemplate(stack: Stack): Template {
  const assembly = (stack.node.root as App).synth();
  const tpl = structuredClone(assembly.getStackByName(stack.stackName).template) as {
    Resources: Record<string, CfnResource>;
  };
  for (const nested of stack.node.findAll().filter(NestedStack.isNestedStack)) {
    const resource = nested.nestedStackResource;
    if (!resource || Stack.of(resource) !== stack) continue;
    const r = tpl.Resources[stack.getLogicalId(resource as CfnElement)];
    r.Metadata = { ...r.Metadata, 'aws:asset:path': nested.templateFile };
  }
  return Template.fromJSON({ ...tpl, Resources: flattenNested(assembly.directory, tpl, stack.stackName) });
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export function asArray<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

/** Every IAM policy statement of the policies attached to a role (by the role's logical id). */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  const out: Statement[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (!roles.includes(roleLogicalId)) continue;
    out.push(...(policy.Properties.PolicyDocument.Statement as Statement[]));
  }
  return out;
}

export function actionsOf(statements: Statement[]): string[] {
  return [...new Set(statements.flatMap((s) => asArray(s.Action)))].sort();
}

/** Logical id of the role of the Lambda function whose description names this task label. */
export function roleOfTask(template: Template, label: string): string {
  const fns = template.findResources('AWS::Lambda::Function', {
    Properties: { Description: `Sluice ${label}` },
  });
  const [fn] = Object.values(fns);
  if (!fn) throw new Error(`no function for ${label}`);
  return (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

export function functionOfTask(
  template: Template,
  label: string,
): { id: string; props: Record<string, unknown> } {
  const fns = template.findResources('AWS::Lambda::Function', {
    Properties: { Description: `Sluice ${label}` },
  });
  const [[id, fn]] = Object.entries(fns);
  return { id, props: fn.Properties };
}

export class OverBroadGrantError extends Error {
  readonly code = 'OverBroadGrant';
  constructor(
    readonly policy: string,
    readonly statement: Statement,
    reason: string,
  ) {
    super(`${policy}: ${reason}: ${JSON.stringify(statement)}`);
    this.name = 'OverBroadGrantError';
  }
}

/**
 * Least-privilege check over every IAM policy in a template: no wildcard action (`*`, `svc:*`,
 * `svc:Get*`), no `Resource: "*"`, except the statements AWS only accepts on `*` (none for Sluice).
 */
export function assertLeastPrivilege(template: Template): void {
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    for (const st of policy.Properties.PolicyDocument.Statement as Statement[]) {
      if (st.Effect !== 'Allow') continue;
      for (const a of asArray(st.Action)) {
        if (a.includes('*')) throw new OverBroadGrantError(id, st, `wildcard action ${a}`);
      }
      for (const r of asArray(st.Resource)) {
        if (r === '*') throw new OverBroadGrantError(id, st, 'any resource');
      }
    }
  }
}

/** Synthesize a stack with AwsSolutions checks; returns the AwsSolutions violations (rule + construct path). */
export function nagViolations(build: (app: App) => void): string[] {
  return validationViolations(build).AwsSolutions ?? [];
}

/**
 * Synthesize a stack with AwsSolutions checks beside CDK's built-in CloudFormation validation (cfn-lint
 * rules, on unless CDK_VALIDATION=false); returns each plugin's findings (rule + construct path) by
 * plugin name (`AwsSolutions`, `CloudFormation Validate`). A plugin that did not run has no entry.
 */
export function validationViolations(build: (app: App) => void): Record<string, string[]> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const write = process.stdout.write.bind(process.stdout);
  let dir: string;
  try {
    // cdk-nag prints its findings; keep test output readable.
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
      pluginName: string;
      violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
    }[];
  };
  const out: Record<string, string[]> = {};
  for (const p of report.pluginReports) {
    const name = p.pluginName.startsWith('AwsSolutions') ? 'AwsSolutions' : p.pluginName;
    out[name] = [
      ...(out[name] ?? []),
      ...p.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)),
    ];
  }
  return out;
}
