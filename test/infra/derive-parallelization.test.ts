/**
 * Derive tasks drop re-published documents with origin watermarks per input shard, which assumes one
 * batch per shard at a time: the construct refuses a ParallelizationFactor above 1 when the catalog has
 * derivations, and allows it when it has none.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DeployUnsupportedError } from '../../infra/errors.ts';
import { DEFAULT_EVENT_SOURCE, SluiceCatalog } from '../../infra/sluice-catalog.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { fixtureCatalog } from './fixture.ts';

function build(catalog: BuiltCatalog, parallelizationFactor: number): Stack {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'F');
  new SluiceCatalog(stack, 'Flow', { catalog, eventSource: { parallelizationFactor } });
  return stack;
}

describe('event-source mappings of derivations', () => {
  it('the default is one batch per shard', () => {
    expect(DEFAULT_EVENT_SOURCE.parallelizationFactor).toBe(1);
  });

  it('a parallelizationFactor above 1 is refused when the catalog has derivations', () => {
    const catalog = fixtureCatalog();
    expect(Object.values(catalog.collections).some((c) => c.derive)).toBe(true);
    let err: unknown;
    try {
      build(catalog, 4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeployUnsupportedError);
    expect((err as DeployUnsupportedError).code).toBe('InvalidOverride');
    expect((err as Error).message).toMatch(/parallelizationFactor.*found 4/);
  });

  it('without derivations the factor is passed to every mapping', () => {
    const catalog = fixtureCatalog();
    const plain: BuiltCatalog = {
      ...catalog,
      // The derived collections stay, as plain collections (nothing derives them).
      collections: Object.fromEntries(
        Object.entries(catalog.collections).map(([n, { derive: _, ...c }]) => [n, c]),
      ),
    };
    const mappings = Template.fromStack(build(plain, 4)).findResources('AWS::Lambda::EventSourceMapping');
    expect(Object.keys(mappings).length).toBeGreaterThan(0);
    for (const m of Object.values(mappings))
      expect((m as { Properties: { ParallelizationFactor: number } }).Properties.ParallelizationFactor).toBe(
        4,
      );
  });
});
