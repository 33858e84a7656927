// Whether Sluice's compiled JavaScript (dist/, built by `npm run build`, which `npm ci` runs through
// `prepare`) is current, so a launcher can run it instead of compiling the TypeScript sources through
// tsx at every start (≈ 2.5 s for the CDK app). Shared by bin/sluice.js and bin/cdk-app.js.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The Sluice package's root folder (a checkout, or an installed package). */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['cli', 'shared', 'functions', 'infra'];

/** Newest mtime (ms) of the .ts sources under `dir`; 0 when there are none (an installed package may ship none). */
function newestSource(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * True when dist/ was built after every source edit (SLUICE_FROM_SOURCE=1 says no): an edit not rebuilt
 * yet runs from the sources, so what runs is always what the sources say.
 */
export function compiledIsCurrent() {
  if (process.env.SLUICE_FROM_SOURCE === '1') return false;
  const stamp = join(root, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return false;
  // An installed package (no tsconfig.json: it is not packed) is never edited: its build is current.
  if (!existsSync(join(root, 'tsconfig.json'))) return true;
  const built = statSync(stamp).mtimeMs;
  return SOURCE_DIRS.every((d) => newestSource(join(root, d)) <= built);
}

/**
 * Import `<file>.js` from dist/ when it is current, else `<file>.ts` from the sources through tsx.
 * `file` is relative to the package root, without extension (e.g. `cli/main`).
 */
export async function importSluice(file, compiled = compiledIsCurrent()) {
  if (compiled) return import(pathToFileURL(join(root, 'dist', `${file}.js`)).href);
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(root, `${file}.ts`)).href);
}
