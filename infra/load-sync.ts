/**
 * Load a catalog synchronously, for CDK constructs (constructors cannot await).
 *
 * The loader (shared/catalog/load.ts) is async; this runs it in a child Node process
 * (infra/load-child.ts: compiled, or through tsx from the sources) and reads the result back as JSON. A catalog with errors
 * throws CatalogInvalidError carrying the diagnostics formatted exactly as `sluice check` prints them.
 * Apps that already hold a BuiltCatalog (infra/app.ts awaits the loader itself) skip this.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { Diagnostic } from '../shared/catalog/diagnostics.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import { SluiceError } from '../shared/errors.ts';
import { childScriptArgs } from './child-script.ts';
import { CatalogInvalidError } from './errors.ts';

/** What the child prints on stdout. */
export interface LoadResult {
  catalog?: BuiltCatalog;
  diagnostics: Diagnostic[];
  formatted: string;
}

export class CatalogLoadCrashedError extends SluiceError {
  readonly code = 'CatalogLoadCrashed';
  constructor(
    readonly catalogPath: string,
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(`loading catalog ${catalogPath} failed (child exit ${status}): ${stderr.trim().slice(0, 2000)}`);
    this.name = 'CatalogLoadCrashedError';
  }
}

export function loadCatalogSync(path: string): BuiltCatalog {
  const abs = resolve(path);
  const child = spawnSync(process.execPath, [...childScriptArgs('load-child'), abs], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (child.status !== 0 || child.error) {
    throw new CatalogLoadCrashedError(abs, child.status, child.error ? String(child.error) : child.stderr);
  }
  const result = JSON.parse(child.stdout) as LoadResult;
  if (!result.catalog) throw new CatalogInvalidError(path, result.diagnostics, result.formatted);
  return result.catalog;
}
