/**
 * `sluice/testing`: the engine as a library, for running a catalog's tests (or checking it) from your
 * own test framework, offline, with the semantics of `sluice test`:
 *
 * ```ts
 * const { catalog, diagnostics } = await loadCatalog('flow.yaml');
 * const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
 * for (const test of Object.values(catalog!.tests)) expect((await runner.run(test)).passed).toBe(true);
 * ```
 */
export {
  type Diagnostic,
  formatDiagnostics,
  hasErrors,
  type LoadOptions,
  type LoadResult,
  loadCatalog,
} from '../catalog/load.ts';
export type { BuiltCatalog, CollectionSpec } from '../catalog/model.ts';
export { CombineError, Combiner, type CombinerOptions, type DrainedDoc } from '../combine/index.ts';
export type { Json } from '../json/types.ts';
export { CompiledSchema, SchemaRegistry, SchemaValidationError } from '../schema/registry.ts';
export { type EngineSession, type StepFailure, type TestResult, TestRunner } from './runner.ts';
