/**
 * `sluice generate [catalog]`: TypeScript types for every TypeScript derivation, in Estuary's layout
 * (`flow_generated/typescript/<collection>.ts`, imported as `flow/<collection>.ts`, with a `deno.json`
 * mapping `flow/` there when the project has none) and in Sluice's earlier one
 * (`flow_generated/<collection>.ts`, which existing modules import by relative path); and Estuary's stub
 * module where none exists. SQLite derivations need nothing generated.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
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
  const write = (path: string, text: string, note = ''): void => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    process.stdout.write(`wrote ${relative(process.cwd(), path)}${note}\n`);
  };
  let wroteEstuary = false;
  for (const c of Object.values(catalog.collections)) {
    const ts = typescriptOf(c.derive);
    if (!ts) continue;
    write(generatedTypesPath(catalog.root, c.name), generateDerivationTypes(catalog, c));
    write(estuaryTypesPath(catalog.root, c.name), generateEstuaryTypes(catalog, c));
    wroteEstuary = true;
    if (ts.module && !existsSync(ts.module)) {
      write(ts.module, generateEstuaryStub(c), ' (stub: implement its transforms)');
    }
  }
  const denoJson = join(dirname(catalog.root), 'deno.json');
  if (wroteEstuary && !existsSync(denoJson)) {
    write(denoJson, `${JSON.stringify({ imports: { 'flow/': './flow_generated/typescript/' } }, null, 2)}\n`);
  }
  return 0;
}
