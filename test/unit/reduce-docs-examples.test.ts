// The strategies Estuary's reduction-strategies reference illustrates (bigSum, merge, set of an object and
// of key-sorted arrays, keyed minimize/maximize), in the shapes it uses, as a catalog of our own
// (test/fixtures/reduction-strategies): `sluice check` has nothing to say about it and its tests pass.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { TestRunner } from '../../shared/testing/runner.ts';

const path = join(import.meta.dirname, '..', 'fixtures', 'reduction-strategies', 'flow.yaml');

describe("the reduction strategies of Estuary's reference, in its shapes", async () => {
  const { catalog, diagnostics } = await loadCatalog(path);

  it('check: no errors and no warnings (a set term is reduced by the set, even as additionalProperties)', () => {
    expect(diagnostics.map((d) => `${d.code} ${d.pointer}: ${d.message}`)).toEqual([]);
  });

  it('test: every strategy gives what the reference says', async () => {
    const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
    for (const spec of Object.values(catalog!.tests)) {
      const r = await runner.run(spec);
      expect(r.failure, spec.name).toBeUndefined();
    }
    expect(Object.keys(catalog!.tests)).toHaveLength(5);
  });
});
