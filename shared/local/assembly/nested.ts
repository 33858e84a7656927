/**
 * Nested stacks (`AWS::CloudFormation::Stack` resources whose template is an asset of the assembly, as
 * CDK's NestedStack writes them) folded into their parent's resources, so that the local stack runs
 * what a deploy would create with one set of logical ids.
 *
 * A nested resource's logical id becomes `<nested stack's logical id><its own id>`, unique in the
 * parent as CloudFormation's own nested stack names are. Inside the nested template, a `Ref` to one of
 * its parameters becomes the value the parent passes (an expression in the parent's terms), and refs
 * to its own resources follow the renaming; in the parent, `Fn::GetAtt [Nested, Outputs.X]` becomes
 * the nested output's value. Deeper nesting folds from the inside out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssemblyError } from './errors.ts';
import type { CfnResource } from './intrinsics.ts';

interface Template {
  Parameters?: Record<string, { Default?: unknown }>;
  Resources?: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

const NESTED = 'AWS::CloudFormation::Stack';

/** `tpl`'s resources with every nested stack's resources folded in (assets read from `dir`). */
export function flattenNested(dir: string, tpl: Template, where: string): Record<string, CfnResource> {
  const resources: Record<string, CfnResource> = { ...(tpl.Resources ?? {}) };
  const outputs = new Map<string, Record<string, unknown>>();
  const prefixes = prefixesOf(Object.keys(resources).filter((id) => resources[id].Type === NESTED));
  for (const [id, r] of Object.entries(tpl.Resources ?? {})) {
    if (r.Type !== NESTED) continue;
    const asset = r.Metadata?.['aws:asset:path'];
    const file = typeof asset === 'string' ? join(dir, asset) : undefined;
    if (!file || !existsSync(file))
      throw new AssemblyError(
        where,
        `nested stack ${id} has no template in the assembly (aws:asset:path ${JSON.stringify(asset)}): synthesize with asset metadata (the default)`,
      );
    const child = JSON.parse(readFileSync(file, 'utf8')) as Template;
    const inner = flattenNested(dir, child, `${where} › ${id}`);
    const passed = (r.Properties?.Parameters ?? {}) as Record<string, unknown>;
    const params: Record<string, unknown> = {};
    for (const [name, decl] of Object.entries(child.Parameters ?? {})) {
      if (name in passed) params[name] = passed[name];
      else if (decl.Default !== undefined) params[name] = decl.Default;
      else throw new AssemblyError(where, `nested stack ${id}: no value for its parameter ${name}`);
    }
    const prefix = prefixes.get(id) as string;
    const rename = renamer(prefix, new Set(Object.keys(inner)), params);
    for (const [childId, cr] of Object.entries(inner))
      resources[`${prefix}${childId}`] = rename(cr) as CfnResource;
    outputs.set(
      id,
      Object.fromEntries(Object.entries(child.Outputs ?? {}).map(([name, o]) => [name, rename(o.Value)])),
    );
    delete resources[id];
  }
  if (outputs.size === 0) return resources;
  const lift = liftOutputs(outputs, where);
  return Object.fromEntries(
    Object.entries(resources).map(([id, r]) => {
      const { DependsOn: _, ...rest } = lift(r) as CfnResource;
      const deps = dependsOn(r, outputs);
      return [id, deps === undefined ? rest : { ...rest, DependsOn: deps }];
    }),
  );
}

/**
 * The prefix of each nested stack's resources: its logical id without CDK's `<id>NestedStack<id>
 * NestedStackResource<hash>` tail (`FlowPersistersacmeevents`), unless two would then be the same.
 */
function prefixesOf(ids: string[]): Map<string, string> {
  const short = (id: string) => id.replace(/NestedStack[A-Za-z0-9]*NestedStackResource[0-9A-F]{8}$/, '');
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(short(id), (counts.get(short(id)) ?? 0) + 1);
  return new Map(ids.map((id) => [id, counts.get(short(id)) === 1 ? short(id) : id]));
}

/** A nested template's value in the parent's terms: its parameters replaced, its resources renamed. */
function renamer(prefix: string, own: Set<string>, params: Record<string, unknown>): (v: unknown) => unknown {
  const subName = (expr: string): string => {
    const dot = expr.indexOf('.');
    const head = dot > 0 ? expr.slice(0, dot) : expr;
    return own.has(head) ? `${prefix}${expr}` : expr;
  };
  const walk = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v === null || typeof v !== 'object') {
      if (key === 'DependsOn' && typeof v === 'string' && own.has(v)) return `${prefix}${v}`;
      return v;
    }
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const arg = o[keys[0]];
      switch (keys[0]) {
        case 'Ref': {
          const name = String(arg);
          if (name in params) return params[name];
          return own.has(name) ? { Ref: `${prefix}${name}` } : o;
        }
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
          return own.has(String(id)) ? { 'Fn::GetAtt': [`${prefix}${id}`, walk(attr)] } : o;
        }
        case 'Fn::Sub': {
          const [text, vars] =
            typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
          const local = Object.fromEntries(Object.entries(vars ?? {}).map(([k, x]) => [k, walk(x)]));
          const used: Record<string, unknown> = {};
          const out = text.replace(/\$\{([^}!][^}]*)\}/g, (all, expr: string) => {
            if (expr in local) return all;
            if (expr in params) {
              used[expr] = params[expr];
              return all;
            }
            return `\${${subName(expr)}}`;
          });
          return { 'Fn::Sub': [out, { ...used, ...local }] };
        }
      }
    }
    return Object.fromEntries(
      Object.entries(o).map(([k, x]) =>
        k === 'DependsOn' ? [k, Array.isArray(x) ? x.map((d) => walk(d, k)) : walk(x, k)] : [k, walk(x)],
      ),
    );
  };
  return (v) => walk(v);
}

/** The parent's `Fn::GetAtt [Nested, Outputs.X]` (and `${Nested.Outputs.X}` in Fn::Sub) → X's value. */
function liftOutputs(outputs: Map<string, Record<string, unknown>>, where: string): (v: unknown) => unknown {
  const value = (id: string, attr: string): unknown => {
    const name = attr.replace(/^Outputs\./, '');
    const o = outputs.get(id) as Record<string, unknown>;
    if (!(name in o))
      throw new AssemblyError(where, `Fn::GetAtt ${id}.${attr}: the nested stack has no output ${name}`);
    return o[name];
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
      const [id, attr] = Array.isArray(o[keys[0]])
        ? (o[keys[0]] as string[])
        : String(o[keys[0]]).split(/\.(.*)/);
      if (outputs.has(String(id))) return value(String(id), String(attr));
    }
    if (keys.length === 1 && keys[0] === 'Fn::Sub') {
      const arg = o[keys[0]];
      const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
      const extra: Record<string, unknown> = {};
      const out = text.replace(/\$\{([^}!][^}]*)\}/g, (all, expr: string) => {
        const dot = expr.indexOf('.');
        const id = dot > 0 ? expr.slice(0, dot) : '';
        if (!outputs.has(id)) return all;
        const name = `nested${Object.keys(extra).length}`;
        extra[name] = value(id, expr.slice(dot + 1));
        return `\${${name}}`;
      });
      return { 'Fn::Sub': [out, { ...(walk(vars ?? {}) as Record<string, unknown>), ...extra }] };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk;
}

/** `DependsOn` without the nested stacks that were folded away. */
function dependsOn(r: CfnResource, folded: Map<string, unknown>): unknown {
  const d = r.DependsOn;
  if (d === undefined) return undefined;
  const kept = (Array.isArray(d) ? d : [d]).filter((x) => !folded.has(String(x)));
  return kept.length === 0 ? undefined : kept;
}
