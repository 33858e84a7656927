#!/usr/bin/env node
// The `sluice` command. It runs Sluice's compiled JavaScript (dist/, built by `npm run build`, which
// `npm ci` runs through `prepare`): no TypeScript is compiled at start. It falls back to the
// TypeScript sources through tsx when dist/ is missing or older than a source file (an edit not
// rebuilt yet), and always for `dev`, which synthesizes and hashes the project's own sources.
// Users' derivation modules are TypeScript either way: they load through esbuild.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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

function compiledIsCurrent() {
  if (process.env.SLUICE_FROM_SOURCE === '1') return false;
  const stamp = join(root, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return false;
  // An installed package (no tsconfig.json: it is not packed) is never edited: its build is current.
  if (!existsSync(join(root, 'tsconfig.json'))) return true;
  const built = statSync(stamp).mtimeMs;
  return SOURCE_DIRS.every((d) => newestSource(join(root, d)) <= built);
}

let main;
if (process.argv[2] !== 'dev' && compiledIsCurrent()) {
  ({ main } = await import(pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(join(root, 'cli', 'main.ts')).href));
}
process.exitCode = await main(process.argv);
