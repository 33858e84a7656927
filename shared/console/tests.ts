/**
 * Catalog tests run from the console: the same TestRunner and the same report lines (with the diff) as
 * `sluice test`, for the catalog on disk or a draft.
 */

import type { BuiltCatalog } from '../catalog/model.ts';
import { SchemaRegistry } from '../schema/registry.ts';
import { formatResult } from '../testing/format.ts';
import { TestRunner } from '../testing/runner.ts';
import type { ConsoleTestResult, ConsoleTestRun } from './api-types.ts';

export async function runCatalogTests(
  catalog: BuiltCatalog,
  rewrite: (line: string) => string = (l) => l,
): Promise<ConsoleTestRun> {
  let runner: TestRunner;
  try {
    runner = await TestRunner.create(catalog, new SchemaRegistry(catalog.schemas));
  } catch (e) {
    return { passed: 0, failed: 0, results: [], error: rewrite(e instanceof Error ? e.message : String(e)) };
  }
  const results: ConsoleTestResult[] = [];
  for (const test of Object.values(catalog.tests)) {
    const r = await runner.run(test);
    results.push({
      name: r.name,
      passed: r.passed,
      millis: r.millis,
      lines: formatResult(r, test.steps[r.failure?.step ?? 0]?.source).map(rewrite),
    });
  }
  const passed = results.filter((r) => r.passed).length;
  return { passed, failed: results.length - passed, results };
}
