/** `sluice check [catalog]`: load and validate a catalog; exit 0 when valid, 2 when invalid. */
import { relative } from 'node:path';
import type { Diagnostic } from '../shared/catalog/diagnostics.ts';
import { formatDiagnostics, hasErrors, loadCatalog } from '../shared/catalog/load.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';

export async function runCheck(catalogPath: string): Promise<number> {
  // `sluice check` also type-checks derivation modules (strict TypeScript, as Deno does for Estuary):
  // seconds of compiler work that the other commands skip (they only bundle modules, which resolves imports).
  const { catalog, diagnostics } = await loadCatalog(catalogPath, { typeCheckModules: true });
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  if (!catalog || hasErrors(diagnostics)) {
    process.stderr.write(`${invalidSummary(catalogPath, diagnostics)}\n`);
    return 2;
  }
  process.stdout.write(`${summary(catalog)}\n`);
  return 0;
}

/** `flow.yaml: 3 errors`: the last line of an invalid catalog's report (`sluice check`, `sluice test`). */
export function invalidSummary(catalogPath: string, diagnostics: readonly Diagnostic[]): string {
  return `${catalogPath}: ${count(diagnostics.filter((d) => d.severity === 'error').length, 'error')}`;
}

/** `flow.yaml: 3 collections, 1 capture, 2 materializations, 4 tests: OK` */
export function summary(catalog: BuiltCatalog, cwd = process.cwd()): string {
  const parts = [
    count(Object.keys(catalog.collections).length, 'collection'),
    count(Object.keys(catalog.captures).length, 'capture'),
    count(Object.keys(catalog.materializations).length, 'materialization'),
    count(Object.keys(catalog.tests).length, 'test'),
  ];
  return `${relative(cwd, catalog.root) || catalog.root}: ${parts.join(', ')}: OK`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
