/**
 * `sluice check` runs what Estuary validates when it builds a derivation: a SQLite derivation's
 * migrations apply to an empty database and its lambdas prepare with every `$parameter` naming a
 * location of the source collection; a TypeScript module bundles, every import (`flow/…` included)
 * resolving. Loaded only when a catalog has derivations (it pulls in sql.js and esbuild).
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

export async function checkDerivationRuntimes(catalog: BuiltCatalog): Promise<RuntimeProblem[]> {
  const out: RuntimeProblem[] = [];
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
  return out;
}
