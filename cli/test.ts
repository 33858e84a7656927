/**
 * `sluice test [catalog]`: exit 0 all passed, 1 a test failed (a derivation module that throws when loaded or
 * constructed fails every test), 2 the catalog is invalid.
 */
import { relative } from 'node:path';
import { DEPLOYMENT_WARNINGS } from '../shared/catalog/diagnostics.ts';
import { formatDiagnostics, loadCatalog } from '../shared/catalog/load.ts';
import { SchemaRegistry } from '../shared/schema/registry.ts';
import { formatResult, thrownAt } from '../shared/testing/format.ts';
import { TestRunner } from '../shared/testing/runner.ts';
import { invalidSummary } from './check.ts';

export interface TestCommandOptions {
  filter?: string;
  /** Where to write; defaults to the process streams. */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export async function runTestCommand(catalogPath: string, opts: TestCommandOptions = {}): Promise<number> {
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = opts.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const loaded = await loadCatalog(catalogPath);
  const catalog = loaded.catalog;
  const diagnostics = loaded.diagnostics.filter((d) => !DEPLOYMENT_WARNINGS.has(d.code));
  if (diagnostics.length > 0) err(formatDiagnostics(diagnostics));
  if (!catalog) {
    err(invalidSummary(catalogPath, loaded.diagnostics));
    return 2;
  }

  // Values in errors (a derivation's invalid output): `sluice test` shows a user their own test data, on
  // their own terminal; deployed, errors leave values out unless asked (docs/security.md).
  process.env.SLUICE_LOG_VALUES ??= '1';
  const registry = new SchemaRegistry(catalog.schemas);
  // Stack traces of derivation modules name their TypeScript files (their bundles carry source maps),
  // so that a module that throws is reported where it threw. On only now: a module loaded while it is
  // on has its source map read.
  process.setSourceMapsEnabled(true);
  let runner: TestRunner;
  try {
    // The salt of sha256 redaction: SLUICE_REDACT_SALT when it holds the salt itself (not a reference).
    const salt = process.env.SLUICE_REDACT_SALT ?? '';
    runner = await TestRunner.create(catalog, registry, {
      redactSalt: /^(env|secretsmanager|ssm):/.test(salt) ? '' : salt,
    });
  } catch (e) {
    // A module that throws when loaded or constructed: where it threw, when its stack says so.
    const where = thrownAt(e) ?? (relative(process.cwd(), catalog.root) || catalog.root);
    const message = (e instanceof Error ? e.message : String(e)).replace(
      /(cannot load module )(\/\S+?)(: )/,
      (_, a: string, path: string, b: string) => `${a}${relative(process.cwd(), path) || path}${b}`,
    );
    const code = (e as { code?: unknown }).code;
    err(`${where}: ${typeof code === 'string' ? `${code}: ` : ''}${message}`);
    // The catalog is valid (`sluice check` passes it): its tests fail, as when a transform throws.
    const tests = selectTests(catalog.tests, opts.filter);
    for (const test of tests)
      out(
        `FAIL ${test.name} (not run: ${typeof code === 'string' ? code : 'the derivations could not start'})`,
      );
    out(`0 passed, ${tests.length} failed`);
    return tests.length > 0 ? 1 : 0;
  }

  const tests = selectTests(catalog.tests, opts.filter);
  if (tests.length === 0) {
    out(`no tests${opts.filter ? ` match "${opts.filter}"` : ''} in ${catalogPath}`);
    return opts.filter ? 1 : 0;
  }
  let passed = 0;
  let failed = 0;
  for (const test of tests) {
    const result = await runner.run(test);
    if (result.passed) passed++;
    else failed++;
    for (const line of formatResult(result, test.steps[result.failure?.step ?? 0]?.source)) out(line);
  }
  out(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

function selectTests<T extends { name: string }>(tests: Record<string, T>, filter: string | undefined): T[] {
  return Object.values(tests).filter((t) => !filter || t.name.includes(filter));
}
