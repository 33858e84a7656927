/**
 * `sluice check` runs what Estuary validates when it builds a derivation: a SQLite derivation's
 * migrations apply to an empty database and its lambdas prepare with every `$parameter` naming a
 * location of the source collection; a TypeScript module bundles, every import (`flow/…` included)
 * resolving, and (`sluice check`) type-checks. Loaded only when a catalog has derivations (it pulls in sql.js and esbuild).
 */
import { existsSync } from 'node:fs';
import { build } from 'esbuild';
import { DerivationError } from '../derive/errors.ts';
import { DerivationRunner } from '../derive/runner.ts';
import { SchemaRegistry } from '../schema/registry.ts';
import { tsconfigPaths } from './derive-using.ts';
import { type BuiltCatalog, sqliteOf, typescriptOf } from './model.ts';

export interface RuntimeProblem {
  collection: string;
  code: 'SqlInvalid' | 'ParamNotFound' | 'ModuleUnresolved';
  /** JSON pointer below the collection's `derive` (`/transforms/0/lambda`, `/using/sqlite/migrations/1`), or a file location. */
  at: { pointer: string } | { file: string; line: number; col: number };
  message: string;
}

export async function checkDerivationRuntimes(
  catalog: BuiltCatalog,
  opts: { typeCheck?: boolean } = {},
): Promise<RuntimeProblem[]> {
  const out: RuntimeProblem[] = [];
  const typeCheck = new Map<string, { imports: Record<string, string>; modules: Map<string, string> }>();
  let registry: SchemaRegistry | undefined;
  for (const c of Object.values(catalog.collections)) {
    if (sqliteOf(c.derive)) {
      registry ??= new SchemaRegistry(catalog.schemas);
      try {
        await DerivationRunner.create(catalog, registry, c.name);
      } catch (err) {
        if (!(err instanceof DerivationError)) throw err;
        const index = c.derive!.transforms.findIndex((t) => t.name === err.transform);
        const migration = /migration (\d+)/.exec(err.message)?.[1];
        out.push({
          collection: c.name,
          code: err.code === 'ParamNotFound' ? 'ParamNotFound' : 'SqlInvalid',
          at: {
            pointer:
              index >= 0
                ? `/transforms/${index}/lambda`
                : migration !== undefined
                  ? `/using/sqlite/migrations/${migration}`
                  : '/using/sqlite',
          },
          message: err.message,
        });
      }
    }
    const ts = typescriptOf(c.derive);
    if (ts?.module && ts.imports && existsSync(ts.module)) {
      try {
        await build({
          entryPoints: [ts.module],
          bundle: true,
          write: false,
          format: 'esm',
          platform: 'node',
          logLevel: 'silent',
          tsconfigRaw: { compilerOptions: { baseUrl: '/', paths: tsconfigPaths(ts.imports) } },
        });
        // Bundled: now type-check it, with every module of the same import map in one program.
        const key = JSON.stringify(ts.imports);
        const group = typeCheck.get(key) ?? { imports: ts.imports, modules: new Map<string, string>() };
        group.modules.set(ts.module, c.name);
        typeCheck.set(key, group);
      } catch (err) {
        const errors = (
          err as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }
        ).errors;
        for (const e of errors ?? [{ text: String(err) }]) {
          out.push({
            collection: c.name,
            code: 'ModuleUnresolved',
            at: e.location
              ? { file: e.location.file, line: e.location.line, col: e.location.column + 1 }
              : { pointer: '/using/typescript' },
            message: `${e.text}${/flow\//.test(e.text) ? ' (run `sluice generate` to write flow_generated/typescript/)' : ''}`,
          });
        }
      }
    }
  }
  if (opts.typeCheck)
    for (const group of typeCheck.values()) out.push(...(await typeErrors(group.imports, group.modules)));
  return out;
}

/**
 * Type errors of modules, as Deno reports them to Estuary (strict TypeScript, web and ES2022 APIs),
 * with `flow/…` resolved through the import map. The compiler is loaded only here.
 */
async function typeErrors(
  imports: Record<string, string>,
  modules: Map<string, string>,
): Promise<RuntimeProblem[]> {
  type TS = typeof import('typescript');
  const m = await import('typescript');
  const ts = (m as unknown as { default?: TS }).default ?? (m as unknown as TS);
  const program = ts.createProgram([...modules.keys()], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    allowJs: true,
    skipLibCheck: true,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    baseUrl: '/',
    paths: tsconfigPaths(imports),
  });
  const out: RuntimeProblem[] = [];
  const collectionOf = (file: string | undefined) => (file && modules.get(file)) ?? [...modules.values()][0];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!d.file || d.start === undefined) {
      out.push({
        collection: collectionOf(undefined),
        code: 'ModuleUnresolved',
        at: { pointer: '/using/typescript' },
        message,
      });
      continue;
    }
    // Problems in generated types or libraries are reported where a module uses them.
    if (!modules.has(d.file.fileName) && /flow_generated|node_modules/.test(d.file.fileName)) continue;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    out.push({
      collection: collectionOf(d.file.fileName),
      code: 'ModuleUnresolved',
      at: { file: d.file.fileName, line: line + 1, col: character + 1 },
      message: `TS${d.code}: ${message}`,
    });
  }
  return out;
}
