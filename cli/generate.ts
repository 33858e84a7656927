/**
 * `sluice generate [catalog]`: TypeScript types for every TypeScript derivation, in Estuary's layout
 * (`flow_generated/typescript/<collection>.ts`, imported as `flow/<collection>.ts`, with a `deno.json`
 * mapping `flow/` there when the project has none) and in Sluice's earlier one
 * (`flow_generated/<collection>.ts`, which existing modules import by relative path); and Estuary's stub
 * module where none exists. SQLite derivations need nothing generated.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { FLOW_GENERATED_TYPESCRIPT } from '../shared/catalog/derive-using.ts';
import { formatDiagnostics, loadCatalog } from '../shared/catalog/load.ts';
import { typescriptOf } from '../shared/catalog/model.ts';
import {
  generateDerivationTypes,
  generateEstuaryStub,
  generateEstuaryTypes,
} from '../shared/derive/typegen.ts';

/** Sluice's earlier layout: `flow_generated/<collection name>.ts` beside the root catalog. */
export function generatedTypesPath(root: string, collection: string): string {
  return join(dirname(root), 'flow_generated', `${collection}.ts`);
}

/** Estuary's layout: `flow_generated/typescript/<collection name>.ts` beside the root catalog. */
export function estuaryTypesPath(root: string, collection: string): string {
  return join(dirname(root), FLOW_GENERATED_TYPESCRIPT, `${collection}.ts`);
}

export async function runGenerate(catalogPath: string): Promise<number> {
  // Missing modules are expected here: generate writes them. Other errors stop generation.
  const { catalog, diagnostics } = await loadCatalog(catalogPath, { allowMissingModules: true });
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  if (!catalog) return 2;
  // Every file is rendered before any is written, and written all or none (see writeAll).
  const files: { path: string; text: string; note?: string }[] = [];
  for (const c of Object.values(catalog.collections)) {
    const ts = typescriptOf(c.derive);
    if (!ts) continue;
    files.push({ path: generatedTypesPath(catalog.root, c.name), text: generateDerivationTypes(catalog, c) });
    files.push({ path: estuaryTypesPath(catalog.root, c.name), text: generateEstuaryTypes(catalog, c) });
    if (ts.module && !existsSync(ts.module)) {
      files.push({
        path: ts.module,
        text: generateEstuaryStub(c),
        note: ' (stub: implement its transforms)',
      });
    }
  }
  const denoJson = join(dirname(catalog.root), 'deno.json');
  if (files.length > 0 && !existsSync(denoJson)) {
    const text = `${JSON.stringify({ imports: { 'flow/': './flow_generated/typescript/' } }, null, 2)}\n`;
    files.push({ path: denoJson, text });
  }
  const failed = writeAll(files);
  if (failed) {
    process.stderr.write(
      `${relative(process.cwd(), failed.path) || failed.path}: cannot write: ${failed.reason}; wrote nothing\n`,
    );
    return 1;
  }
  for (const f of files) process.stdout.write(`wrote ${relative(process.cwd(), f.path)}${f.note ?? ''}\n`);
  return 0;
}

/**
 * Writes every file or none: each is written to a temporary file beside it first, and only when all
 * of them are written are they renamed into place (a failure removes the temporary files). Returns
 * the file that could not be written, and why; undefined when all were written.
 */
function writeAll(
  files: readonly { path: string; text: string }[],
): { path: string; reason: string } | undefined {
  const temps: string[] = [];
  let current = '';
  try {
    for (const f of files) {
      current = f.path;
      mkdirSync(dirname(f.path), { recursive: true });
      const temp = `${f.path}.${process.pid}.tmp`;
      writeFileSync(temp, f.text);
      temps.push(temp);
    }
  } catch (err) {
    for (const t of temps) rmSync(t, { force: true });
    return { path: current, reason: describeFsError(err) };
  }
  for (const [i, f] of files.entries()) renameSync(temps[i], f.path);
  return undefined;
}

/** `ENOTDIR: not a directory, mkdir '/x/flow_generated/acme'` → `not a directory: /x/flow_generated/acme`. */
function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const what = /^\w+: ([^,]+)/.exec(e.message)?.[1] ?? e.message;
  return e.path ? `${what} (${relative(process.cwd(), e.path) || e.path})` : what;
}
