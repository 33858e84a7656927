/**
 * What a derivation's `using` needs beyond its catalog text: the import map of a TypeScript module
 * (Estuary's `deno.json`, which points `flow/` at the generated types), and the SQL of SQLite
 * migrations and lambdas written as relative file paths.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isObject } from '../json/types.ts';

/** Where `flow/` resolves when no import map says otherwise: Estuary's generated-types folder. */
export const FLOW_GENERATED_TYPESCRIPT = join('flow_generated', 'typescript');

export interface ImportMap {
  /** Specifier (or prefix ending in `/`) → absolute path (a prefix maps to a folder ending in `/`). */
  imports: Record<string, string>;
  /** The deno.json it came from, if any. */
  denoJson?: string;
  /** Entries that cannot be honoured (`npm:`, `jsr:` specifiers), for a warning. */
  ignored: string[];
}

/**
 * The import map of a module: the `deno.json` given (Estuary's `typescript.files`) or the nearest one in
 * the module's folder or above, up to the root catalog's folder; `flow/` defaults to
 * `flow_generated/typescript/` beside the root catalog.
 */
export function importMapOf(modulePath: string, rootCatalog: string, denoJson?: string): ImportMap {
  const rootDir = dirname(rootCatalog);
  const found = denoJson ?? findDenoJson(dirname(modulePath), rootDir);
  const imports: Record<string, string> = {};
  const ignored: string[] = [];
  if (found) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(found, 'utf8'));
    } catch {
      parsed = undefined;
    }
    const map = isObject(parsed as never) ? (parsed as { imports?: unknown }).imports : undefined;
    if (map && typeof map === 'object') {
      for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
        if (typeof v !== 'string') continue;
        // A URL is fetched with the module's remote imports (remote-modules.ts); other schemes
        // (`npm:`, `jsr:`) name registries Sluice does not read.
        if (/^[a-z]+:/i.test(v) && !/^(file|https?):/.test(v)) {
          ignored.push(`${k} → ${v}`);
          continue;
        }
        if (/^https?:/.test(v)) {
          imports[k] = v;
          continue;
        }
        const target = resolve(dirname(found), v.replace(/^file:\/\//, ''));
        imports[k] = k.endsWith('/') && !target.endsWith('/') ? `${target}/` : target;
      }
    }
  }
  imports['flow/'] ??= `${join(rootDir, FLOW_GENERATED_TYPESCRIPT)}/`;
  return { imports, ...(found ? { denoJson: found } : {}), ignored };
}

function findDenoJson(from: string, stopAt: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const name of ['deno.json', 'deno.jsonc']) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
    if (dir === stopAt || dirname(dir) === dir || !from.startsWith(stopAt)) return undefined;
  }
}

/**
 * tsconfig `paths` for an import map, so that esbuild (and the TypeScript compiler) resolve `flow/…` and
 * the map's other entries the way Deno does. Used for every build of a module: `sluice test`, `sluice
 * check` and the Lambda bundle.
 */
export function tsconfigPaths(imports: Record<string, string>): Record<string, string[]> {
  const paths: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(imports)) {
    if (k.endsWith('/')) paths[`${k}*`] = [`${v}*`];
    else paths[k] = [v];
  }
  return paths;
}

/**
 * Estuary reads a migration or lambda without whitespace as a relative URL of a file holding the SQL
 * (crates/derive-sqlite: `is_url_to_generate`), anything else as the SQL itself.
 */
export function isSqlFileReference(block: string): boolean {
  return block.length > 0 && !/\s/.test(block);
}
