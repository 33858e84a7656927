// The examples of Estuary's reduction-strategies reference (site/docs/reference/reduction-strategies/
// set.md, minimize-and-maximize.md, big-sum.md and merge.md), as a catalog: `sluice check` has nothing to say about them
// and their catalog tests pass.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { TestRunner } from '../../shared/testing/runner.ts';

const path = join(import.meta.dirname, '..', 'fixtures', 'estuary-reductions', 'flow.yaml');

describe("Estuary's reduction-strategies examples", async () => {
  const { catalog, diagnostics } = await loadCatalog(path);

  it('check: no errors and no warnings (a set term is reduced by the set, even as additionalProperties)', () => {
    expect(diagnostics.map((d) => `${d.code} ${d.pointer}: ${d.message}`)).toEqual([]);
  });

  it('test: every example passes', async () => {
    const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
    for (const spec of Object.values(catalog!.tests)) {
      const r = await runner.run(spec);
      expect(r.failure, spec.name).toBeUndefined();
    }
    expect(Object.keys(catalog!.tests)).toHaveLength(5);
  });
});
