#!/usr/bin/env node
// `npm run build` (also run by `prepare`, so `npm ci` builds): compiles Sluice's TypeScript to dist/
// (JavaScript + .d.ts, the source tree mirrored), copies the plain-JavaScript files the compiled code
// loads by path, and writes dist/.build-stamp, which bin/sluice.js compares with the sources' mtimes.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

// Files tsc does not emit but the compiled modules use next to themselves (child-process scripts).
function copyAssets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(p);
    else if (/\.(cjs|mjs)$/.test(entry.name)) {
      const to = join(dist, relative(root, p));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(p, to);
    }
  }
}
for (const d of ['shared', 'cli', 'functions', 'infra']) copyAssets(join(root, d));
writeFileSync(join(dist, '.build-stamp'), `${new Date().toISOString()}\n`);
