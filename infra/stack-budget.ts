/**
 * CloudFormation refuses a stack of more than 500 resources. Sluice deploys a catalog as one stack with
 * a nested stack per collection (its persister, and the event-source mappings of every task reading it),
 * so the parent grows by two per collection (stream, nested stack), whatever reads it: ≈ 220 collections.
 * CDK's own check stops synth with the count and the resource types; this says it in the catalog's
 * terms (how many collections and tasks, what each costs) and what to do, before that check runs.
 */
import { CfnResource, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** CloudFormation's limit of resources per stack. */
export const MAX_STACK_RESOURCES = 500;

/** The validation message when the stack holding `flow` is over the limit; none otherwise. */
export function stackBudget(flow: Construct, collections: number): string[] {
  const stack = Stack.of(flow);
  const resources = stack.node.findAll().filter((c) => CfnResource.isCfnResource(c) && Stack.of(c) === stack);
  if (resources.length <= MAX_STACK_RESOURCES) return [];
  // Resources by the part of the catalog that made them: `Flow/Persisters/<collection>/...` → Persisters.
  const depth = flow.node.scopes.length;
  const byPart = new Map<string, number>();
  for (const r of resources) {
    const path = r.node.scopes.slice(depth).map((s) => s.node.id);
    const part = path.length > 1 ? path[0] : 'shared';
    byPart.set(part, (byPart.get(part) ?? 0) + 1);
  }
  const parts = [...byPart.entries()].sort((a, b) => b[1] - a[1]).map(([part, n]) => `${part} ${n}`);
  return [
    `this catalog deploys as ${resources.length} CloudFormation resources, over the ${MAX_STACK_RESOURCES} one stack may hold, for ${collections} collections (${parts.join(', ')}). ` +
      'Each collection costs the parent stack two (its stream, and the nested stack holding its persister and every reader’s event-source mapping on it), each capture, derivation or materialization about seven, whatever it reads. ' +
      'Split the catalog into parts that do not read one another’s collections and deploy each as its own stack (-c catalog=part.flow.yaml), or leave out collections this deployment does not need.',
  ];
}
