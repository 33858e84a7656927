/**
 * The `flow/<collection>.ts` modules that TypeScript derivations import, supplied from the catalog
 * itself. Estuary's TypeScript connector writes a derivation's types and `IDerivation` into a scratch
 * folder each time it validates or runs it, with a `deno.json` mapping `flow/<collection>.ts` there
 * (crates/derive-typescript/src/lib.rs, `validate` and `run`): a project builds and tests without
 * `flowctl generate`, and Estuary's examples keep `flow_generated/` out of git. Sluice does the same
 * for `sluice check`, `sluice test` and the Lambda bundle, so those never need `sluice generate` (which
 * remains the way to give an editor the types) and never read a stale copy of them.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { generateEstuaryTypes } from '../derive/typegen.ts';
import { FLOW_GENERATED_TYPESCRIPT } from './derive-using.ts';
import { type BuiltCatalog, typescriptOf } from './model.ts';

/** Where staged types live: one folder per content hash, so runs of different catalogs never collide. */
const STAGING_DIR = join(tmpdir(), 'sluice-flow-generated');

/** The import specifier of a derivation's generated module, as Estuary's `deno.json` maps it. */
export function flowGeneratedSpecifier(collection: string): string {
  return `flow/${collection}.ts`;
}

/**
 * Writes the generated module of every TypeScript derivation of `catalog` to the staging folder and maps
 * `flow/<collection>.ts` to it in each TypeScript derivation's import map. Every map gets every
 * derivation's entry (a superset of Estuary, which maps only the derivation's own): their maps stay
 * equal, so `sluice check` type-checks all modules in one program.
 *
 * Where the project's import map already resolves the specifier to a file of its own (a `deno.json`
 * pointing `flow/` at hand-written types), that file is kept. A copy in a `flow_generated/typescript/`
 * folder is not the project's own: it is what `sluice generate` (or `flowctl generate`) wrote from
 * the catalog as it was then, which Estuary never reads when it builds, so the staged one replaces it.
 */
export function stageFlowGenerated(catalog: BuiltCatalog): void {
  const staged: Record<string, string> = {};
  for (const c of Object.values(catalog.collections)) {
    if (!typescriptOf(c.derive)?.module) continue;
    staged[flowGeneratedSpecifier(c.name)] = stage(c.name, generateEstuaryTypes(catalog, c));
  }
  for (const c of Object.values(catalog.collections)) {
    const ts = typescriptOf(c.derive);
    if (!ts?.module) continue;
    const imports = ts.imports ?? {};
    for (const [specifier, path] of Object.entries(staged)) {
      const own = resolveSpecifier(imports, specifier);
      if (own !== undefined && existsSync(own) && !isGeneratedCopy(own)) continue;
      imports[specifier] = path;
    }
    ts.imports = imports;
  }
}

/** Where an import map sends a specifier: its exact entry, else the longest prefix entry (as Deno does). */
function resolveSpecifier(imports: Record<string, string>, specifier: string): string | undefined {
  if (Object.hasOwn(imports, specifier)) return imports[specifier];
  let best: string | undefined;
  for (const key of Object.keys(imports)) {
    if (key.endsWith('/') && specifier.startsWith(key) && (best === undefined || key.length > best.length))
      best = key;
  }
  return best === undefined ? undefined : imports[best] + specifier.slice(best.length);
}

const GENERATED_SEGMENT = `${sep}${FLOW_GENERATED_TYPESCRIPT}${sep}`;

function isGeneratedCopy(path: string): boolean {
  return path.includes(GENERATED_SEGMENT);
}

/**
 * The staged file for one collection's types. Its path ends in `flow_generated/typescript/<collection>.ts`,
 * the layout of `sluice generate`, so diagnostics name it recognisably (and the type check, which
 * reports problems in generated files where a module uses them, treats it as generated).
 */
function stage(collection: string, text: string): string {
  const hash = createHash('sha256').update(collection).update('\0').update(text).digest('hex').slice(0, 16);
  const file = join(STAGING_DIR, hash, FLOW_GENERATED_TYPESCRIPT, `${collection}.ts`);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    // Written aside and renamed into place: a concurrent run (another `sluice test`) that finds the
    // file reads it whole, never half-written.
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, text);
    renameSync(partial, file);
  }
  return file;
}
