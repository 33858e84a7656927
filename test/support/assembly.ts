/**
 * Integration tests run what deploys: a catalog is synthesized with the project's CDK app (cached by
 * content hash in the OS temp folder, shared by the test files of a run) and its cloud assembly runs on
 * the emulators through the AssemblyRunner, as `sluice dev` runs it.
 */
import { join } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { AssemblyRunner, type AssemblyRunnerOptions } from '../../shared/local/assembly/runner.ts';
import { synthesize } from '../../shared/local/assembly/synth.ts';
import { TEST_TMP_ROOT } from './tmp-root.ts';

export const ASSEMBLY_CACHE = join(TEST_TMP_ROOT, 'sluice-test-assemblies');

/** The cloud assembly of a catalog (file or built in memory); synthesized once per content. */
export async function assemblyOf(
  catalog: string | BuiltCatalog,
  context: Record<string, unknown> = {},
): Promise<string> {
  return (await synthesize(catalog, ASSEMBLY_CACHE, context)).dir;
}

/** Synthesize (cached) and start a catalog's assembly on the local stack. */
export async function startAssembly(
  catalog: string | BuiltCatalog,
  opts: Omit<AssemblyRunnerOptions, 'assembly'> & { context?: Record<string, unknown> } = {},
): Promise<AssemblyRunner> {
  const assembly = await assemblyOf(catalog, opts.context);
  // SLUICE_TEST_LOGS=1 prints every function's log lines (debugging a failing test).
  const onLog = process.env.SLUICE_TEST_LOGS
    ? (l: { functionName: string; line: string }) => process.stderr.write(`[${l.functionName}] ${l.line}\n`)
    : () => {};
  return AssemblyRunner.start({ port: 0, shards: 2, onLog, ...opts, assembly });
}

/**
 * The hooks every integration test file of the local stack needs: its fixture catalog, loaded once
 * before the file's tests (`fixture.catalog`), and a cleanup list run in reverse after each test
 * (runners, emulators, temporary folders pushed by the test).
 */
export function integrationFixture(file: string): {
  readonly catalog: BuiltCatalog;
  cleanup: (() => Promise<void> | void)[];
} {
  let catalog: BuiltCatalog | undefined;
  const cleanup: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    const r = await loadCatalog(file);
    if (!r.catalog) throw new Error(`${file}: ${JSON.stringify(r.diagnostics)}`);
    catalog = r.catalog;
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  return {
    get catalog() {
      if (!catalog) throw new Error(`${file}: the fixture is loaded before the file's tests, not at import`);
      return catalog;
    },
    cleanup,
  };
}
