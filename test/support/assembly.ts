/**
 * Integration tests run what deploys: a catalog is synthesized with the project's CDK app (cached by
 * content hash in the OS temp folder, shared by the test files of a run) and its cloud assembly runs on
 * the emulators through the AssemblyRunner, as `sluice dev` runs it.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { AssemblyRunner, type AssemblyRunnerOptions } from '../../shared/local/assembly/runner.ts';
import { synthesize } from '../../shared/local/assembly/synth.ts';

export const ASSEMBLY_CACHE = join(tmpdir(), 'sluice-test-assemblies');

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
