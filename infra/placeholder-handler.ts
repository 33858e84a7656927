/**
 * Stand-in handler entry, used by infra/function.ts ONLY when bundling is skipped (CDK assertion tests
 * with `aws:cdk:bundling-stacks: []`) and the real entry under functions/ does not exist. It is never
 * bundled into a deployable asset.
 */
export const handler = async (): Promise<never> => {
  throw new Error('placeholder handler: this function was synthesized without bundling');
};
