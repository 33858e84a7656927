/**
 * Derive tasks drop re-published documents with origin watermarks per input shard, which assumes one
 * batch per shard at a time, and materializations skip what a shard's committed position covers: the
 * construct refuses a ParallelizationFactor above 1 when the catalog has derivations or
 * materializations, and allows it when it has neither.
 */
import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DeployUnsupportedError } from '../../infra/errors.ts';
import { DEFAULT_EVENT_SOURCE, SluiceCatalog } from '../../infra/sluice-catalog.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { fixtureCatalog } from './fixture.ts';
import { deployedTemplate } from './support.ts';

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

  it('a parallelizationFactor above 1 is refused when the catalog has materializations', () => {
    // Two concurrent batches of one shard (records 1,3,5 and 2,4,6) on two instances: materialize-postgres
    // committed the first, then fenced the second, re-read the position (5) and skipped 2 and 4 for good.
    const catalog = fixtureCatalog();
    const noDerive: BuiltCatalog = {
      ...catalog,
      collections: Object.fromEntries(
        Object.entries(catalog.collections).map(([n, { derive: _, ...c }]) => [n, c]),
      ),
    };
    expect(Object.keys(noDerive.materializations).length).toBeGreaterThan(0);
    let err: unknown;
    try {
      build(noDerive, 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeployUnsupportedError);
    expect((err as Error).message).toMatch(/parallelizationFactor.*found 2/);
    expect((err as Error).message).toMatch(/materializations need parallelizationFactor 1/);
  });

  it('without derivations and materializations the factor is passed to every mapping', () => {
    const catalog = fixtureCatalog();
    const plain: BuiltCatalog = {
      ...catalog,
      // The derived collections stay, as plain collections (nothing derives them).
      collections: Object.fromEntries(
        Object.entries(catalog.collections).map(([n, { derive: _, ...c }]) => [n, c]),
      ),
      materializations: {},
    };
    const mappings = deployedTemplate(build(plain, 4)).findResources('AWS::Lambda::EventSourceMapping');
    expect(Object.keys(mappings).length).toBeGreaterThan(0);
    for (const m of Object.values(mappings))
      expect((m as { Properties: { ParallelizationFactor: number } }).Properties.ParallelizationFactor).toBe(
        4,
      );
  });
});
