/** `sluice generate [catalog]`: TypeScript types for every derivation, and a stub module where none exists. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { formatDiagnostics, loadCatalog } from '../shared/catalog/load.ts';
import { generateDerivationTypes, generateStubModule } from '../shared/derive/typegen.ts';

/** Where generated types go: `flow_generated/<collection name>.ts` beside the root catalog. */
export function generatedTypesPath(root: string, collection: string): string {
  return join(dirname(root), 'flow_generated', `${collection}.ts`);
}

export async function runGenerate(catalogPath: string): Promise<number> {
  // Missing modules are expected here: generate writes them. Other errors stop generation.
  const { catalog, diagnostics } = await loadCatalog(catalogPath, { allowMissingModules: true });
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  if (!catalog) return 2;
  for (const c of Object.values(catalog.collections)) {
    if (!c.derive) continue;
    const typesPath = generatedTypesPath(catalog.root, c.name);
    mkdirSync(dirname(typesPath), { recursive: true });
    writeFileSync(typesPath, generateDerivationTypes(catalog, c));
    process.stdout.write(`wrote ${relative(process.cwd(), typesPath)}\n`);
    const modulePath = c.derive.using.typescript.module;
    if (!existsSync(modulePath)) {
      let rel = relative(dirname(modulePath), typesPath);
      if (!rel.startsWith('.')) rel = `./${rel}`;
      mkdirSync(dirname(modulePath), { recursive: true });
      writeFileSync(modulePath, generateStubModule(c, rel));
      process.stdout.write(`wrote ${relative(process.cwd(), modulePath)} (stub: implement its transforms)\n`);
    }
  }
  return 0;
}
