/**
 * `sluice check` runs what Estuary validates when it builds a derivation: a SQLite derivation's
 * migrations apply to an empty database and its lambdas prepare with every `$parameter` naming a
 * location of the source collection; a TypeScript module bundles, every import (`flow/…` included)
 * resolving, and (`sluice check`) type-checks. Loaded only when a catalog has derivations (it pulls in sql.js and esbuild).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve, sep } from 'node:path';
import { contentKey, readCached, writeCached } from '../cache/content-cache.ts';
import { DerivationError } from '../derive/errors.ts';
import { SchemaRegistry } from '../schema/registry.ts';
import { tsconfigPaths } from './derive-using.ts';
import { flowGeneratedSpecifier } from './flow-generated.ts';
import { type BuiltCatalog, sqliteOf, typescriptOf } from './model.ts';
import {
  FETCH_FAILED,
  REMOTE_IMPORTS_PLUGIN,
  type RemoteImportsUse,
  remoteDirOf,
  remoteImports,
  remoteModulesDir,
  withCachedRemotes,
} from './remote-modules.ts';

export interface RuntimeProblem {
  collection: string;
  code: 'SqlInvalid' | 'ParamNotFound' | 'ModuleUnresolved' | 'ModuleTypeError' | 'RemoteFetchFailed';
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
  const remote = remoteModulesDir(catalog.root);
  for (const c of Object.values(catalog.collections)) {
    if (sqliteOf(c.derive)) {
      registry ??= new SchemaRegistry(catalog.schemas);
      try {
        // Loaded only for SQLite derivations: it pulls in sql.js.
        const { DerivationRunner } = await import('../derive/runner.ts');
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
        // Remote imports are fetched (or found cached) by this build; every later build of the module
        // (sluice test, the type check below, the Lambda bundle) reads them from the cache by the map.
        if ((await bundles(ts.module, ts.imports, remote)).remote)
          ts.imports = withCachedRemotes(ts.imports, remote);
        // Bundled: now type-check it, with every module of the same import map in one program.
        const key = JSON.stringify(ts.imports);
        const group = typeCheck.get(key) ?? { imports: ts.imports, modules: new Map<string, string>() };
        group.modules.set(ts.module, c.name);
        typeCheck.set(key, group);
      } catch (err) {
        const errors = (
          err as {
            errors?: {
              text: string;
              pluginName?: string;
              detail?: unknown;
              location?: { file: string; line: number; column: number };
            }[];
          }
        ).errors;
        for (const e of errors ?? [{ text: String(err) }]) {
          out.push({
            collection: c.name,
            code:
              e.pluginName === REMOTE_IMPORTS_PLUGIN && e.detail === FETCH_FAILED
                ? 'RemoteFetchFailed'
                : 'ModuleUnresolved',
            // esbuild names files relative to its working directory; a diagnostic's file is absolute.
            at: e.location
              ? { file: resolve(e.location.file), line: e.location.line, col: e.location.column + 1 }
              : { pointer: '/using/typescript' },
            message: `${e.text}${/Could not resolve "flow\//.test(e.text) ? ` (${flowModulesHint(catalog)})` : ''}`,
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
 * What a `flow/…` import may name: every TypeScript derivation's generated module is staged from the
 * catalog (flow-generated.ts), so an unresolved one names a collection that is not such a derivation.
 */
function flowModulesHint(catalog: BuiltCatalog): string {
  const names = Object.values(catalog.collections)
    .filter((c) => typescriptOf(c.derive)?.module)
    .map((c) => `\`${flowGeneratedSpecifier(c.name)}\``);
  return `\`flow/<collection>.ts\` is the generated module of a TypeScript derivation of the catalog; it has ${names.join(', ')}`;
}

/** What a clean bundle or type check read: each file with its content hash. */
interface CleanRead {
  files: [string, string][];
  /** A bundle's: whether it read remote modules (cached below the catalog's `.sluice/remote/modules/`). */
  remote?: boolean;
}

/** A clean result stays valid while every file it read is unchanged. */
function stillClean(kind: string, key: string): CleanRead | undefined {
  const cached = readCached(kind, key);
  if (cached === undefined) return undefined;
  const read = JSON.parse(cached) as CleanRead;
  return read.files.every(([file, hash]) => sha(file) === hash) ? read : undefined;
}

/**
 * Bundles `module` with esbuild (every import resolving, `flow/…` through the import map); throws
 * esbuild's failure. A clean bundle is cached with the content hash of each input (as typeErrors does),
 * so an unchanged module is not bundled again (esbuild's service costs ≈ 50 ms to start).
 */
async function bundles(
  module: string,
  imports: Record<string, string>,
  remoteDir: string,
): Promise<{ remote: boolean }> {
  const require = createRequire(import.meta.url);
  const version = (require('esbuild/package.json') as { version: string }).version;
  const key = contentKey('bundle-check-3', version, module, JSON.stringify(imports), remoteDir);
  const clean = stillClean('bundle-check', key);
  if (clean) return { remote: clean.remote === true };
  const { build } = await import('esbuild');
  const use: RemoteImportsUse = { used: false };
  const result = await build({
    entryPoints: [module],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    logLevel: 'silent',
    metafile: true,
    tsconfigRaw: { compilerOptions: { baseUrl: '/', paths: tsconfigPaths(imports) } },
    plugins: [remoteImports(remoteDir, imports, { fetch: true, use })],
  });
  const files: [string, string][] = [];
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = resolve(input);
    const hash = sha(file);
    if (hash === undefined) return { remote: use.used }; // not a file on disk: not cacheable
    files.push([file, hash]);
  }
  writeCached('bundle-check', key, JSON.stringify({ files, remote: use.used } satisfies CleanRead));
  return { remote: use.used };
}

const sha = (file: string): string | undefined => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
};

/**
 * Type errors of modules, as Deno reports them to Estuary (strict TypeScript, web and ES2022 APIs),
 * with `flow/…` resolved through the import map. The compiler is loaded only here, and only when the
 * same modules were not found clean before: a clean result is cached (shared/cache) with the content
 * hash of every file the program read (modules, their imports, flow_generated, node_modules types), so
 * an unchanged derivation type-checks in milliseconds without the compiler (≈ 1–4 s with it). A check
 * with errors is never cached: it runs again, and so sees files that have appeared since.
 */
async function typeErrors(
  imports: Record<string, string>,
  modules: Map<string, string>,
): Promise<RuntimeProblem[]> {
  const require = createRequire(import.meta.url);
  let key: string | undefined;
  try {
    const version = (require('typescript/package.json') as { version: string }).version;
    key = contentKey('typecheck-1', version, JSON.stringify(imports), JSON.stringify([...modules]));
  } catch {
    key = undefined; // no compiler installed: the import below reports it
  }
  if (key !== undefined && stillClean('typecheck', key)) return [];
  // Deno type-checks local modules only (`deno check` leaves remote ones to `--all`): so does this.
  const remote = remoteDirOf(imports);
  type TS = typeof import('typescript');
  // require, not import(): import() of CommonJS first scans the compiler's 9 MB for named exports.
  const ts = require('typescript') as TS;
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
    // TS2307/TS2792 (cannot find a module, e.g. a type-only import esbuild erased) is an unresolved
    // import; anything else the compiler reports is a type error.
    const code = d.code === 2307 || d.code === 2792 ? 'ModuleUnresolved' : 'ModuleTypeError';
    if (!d.file || d.start === undefined) {
      out.push({
        collection: collectionOf(undefined),
        code,
        at: { pointer: '/using/typescript' },
        message,
      });
      continue;
    }
    // Problems in generated types or libraries are reported where a module uses them.
    if (!modules.has(d.file.fileName) && /flow_generated|node_modules/.test(d.file.fileName)) continue;
    if (remote && d.file.fileName.startsWith(remote + sep)) continue;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    out.push({
      collection: collectionOf(d.file.fileName),
      code,
      at: { file: d.file.fileName, line: line + 1, col: character + 1 },
      message: `TS${d.code}: ${message}`,
    });
  }
  if (out.length === 0 && key !== undefined) {
    const files: [string, string][] = [];
    for (const f of program.getSourceFiles()) {
      if (program.isSourceFileDefaultLibrary(f)) continue;
      const hash = sha(f.fileName);
      if (hash === undefined) return out; // not a file on disk: not cacheable
      files.push([f.fileName, hash]);
    }
    writeCached('typecheck', key, JSON.stringify({ files } satisfies CleanRead));
  }
  return out;
}
