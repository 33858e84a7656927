/**
 * Derivation modules loaded from the catalog's TypeScript, for `sluice test` and tests (dev paths):
 * esbuild bundles the module on the fly. Lambda never runs this: its derivation module is bundled at
 * synth (infra/function.ts) and imported plainly (runner.ts importBundledModule).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { tsconfigPaths } from '../catalog/derive-using.ts';
import { type BuiltCatalog, typescriptOf } from '../catalog/model.ts';
import { cachedRemoteImports } from '../catalog/remote-modules.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import {
  checkDerivationModule,
  DerivationError,
  type DerivationModule,
  DerivationRunner,
  describe,
} from './runner.ts';

/**
 * Load a derivation module by absolute path. The module (TypeScript or JavaScript, with whatever it
 * imports) is bundled by esbuild into one ES module in the OS temp folder, as the Lambda bundle is
 * built, so it loads the same way wherever it lives: in a `"type": "module"` package or not.
 */
export async function importDerivationModule(
  modulePath: string,
  derivation: string,
  imports?: Record<string, string>,
): Promise<DerivationModule> {
  let mod: Record<string, unknown>;
  try {
    const built = await build({
      entryPoints: [modulePath],
      // `flow/…` and the deno.json import map resolve through tsconfig paths, as in the Lambda bundle.
      ...(imports
        ? { tsconfigRaw: { compilerOptions: { baseUrl: '/', paths: tsconfigPaths(imports) } } }
        : {}),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      // Where the bundle is written (below), so that the source map's paths lead back to the module's
      // files: a stack trace with source maps on (`sluice test`) names the module's own file:line.
      outdir: join(tmpdir(), 'sluice-modules'),
      sourcemap: 'inline',
      logLevel: 'silent',
      // Remote imports from the cache the catalog load fetched them into (remote-modules.ts).
      plugins: [cachedRemoteImports(imports)],
    });
    const code = built.outputFiles[0].text;
    const dir = join(tmpdir(), 'sluice-modules');
    mkdirSync(dir, { recursive: true });
    const file = join(
      dir,
      `${createHash('sha256').update(modulePath).update(code).digest('hex').slice(0, 16)}.mjs`,
    );
    writeFileSync(file, code);
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new DerivationError(
      'ModuleLoad',
      derivation,
      `cannot load module ${modulePath}: ${describeBuildError(err)}`,
      {
        cause: err,
      },
    );
  }
  return checkDerivationModule(mod, modulePath, derivation);
}

/** esbuild's errors carry file:line:col; other errors their message. */
function describeBuildError(err: unknown): string {
  const errors = (
    err as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }
  ).errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors
      .map((e) =>
        e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ${e.text}` : e.text,
      )
      .join('; ');
  }
  return describe(err);
}

/** A runner for a derived collection, its module built from the catalog's module path. */
export async function createDerivationRunner(
  catalog: BuiltCatalog,
  registry: SchemaRegistry,
  collectionName: string,
): Promise<DerivationRunner> {
  const derive = catalog.collections[collectionName]?.derive;
  if (!derive) throw new Error(`${collectionName} is not a derived collection`);
  const ts = typescriptOf(derive);
  const module = ts ? await importDerivationModule(ts.module, collectionName, ts.imports) : undefined;
  return DerivationRunner.create(catalog, registry, collectionName, module);
}
