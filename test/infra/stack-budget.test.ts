/**
 * A catalog too big for one CloudFormation stack (500 resources) fails synth with what the catalog
 * costs and what to do, instead of CDK's bare count (infra/stack-budget.ts).
 */
import { describe, expect, it } from 'vitest';
import { fixtureCatalog } from './fixture.ts';
import { synth } from './support.ts';

describe('stack budget', () => {
  it('260 more collections: synth fails naming the count, the limit, the collections and a way out', () => {
    const catalog = fixtureCatalog();
    const base = catalog.collections['acme/orders'];
    for (let i = 0; i < 260; i++) {
      const name = `acme/table${i}`;
      catalog.collections[name] = { ...structuredClone(base), name };
    }
    const n = Object.keys(catalog.collections).length;
    expect(() => synth(catalog)).toThrow(
      new RegExp(
        `this catalog deploys as \\d+ CloudFormation resources, over the 500 one stack may hold, for ${n} collections \\(Collections \\d+, Persisters \\d+`,
      ),
    );
    expect(() => synth(catalog)).toThrow(
      /Split the catalog into parts that do not read one another’s collections/,
    );
  });

  it('200 more collections synthesize', () => {
    const catalog = fixtureCatalog();
    const base = catalog.collections['acme/orders'];
    for (let i = 0; i < 200; i++) {
      const name = `acme/table${i}`;
      catalog.collections[name] = { ...structuredClone(base), name };
    }
    const { app, stack } = synth(catalog);
    const parent = app.synth().getStackByName(stack.stackName).template as { Resources: object };
    expect(Object.keys(parent.Resources).length).toBeLessThanOrEqual(500);
  });
});
