/**
 * The browser app (console/), bundled with esbuild when the console starts — every asset comes from
 * node_modules, nothing from a CDN. Bundles are cached by content hash (the app's sources and the lock
 * file) in node_modules/.cache/sluice-console, so only the first start after a change pays the build
 * (well under a second). The code editor is split into its own chunk, loaded by the drafts page only,
 * so the home page stays small.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { SLUICE_ROOT } from '../package-root.ts';

export const WEB_SOURCES = join(SLUICE_ROOT, 'console');

export interface WebBundle {
  /** Folder holding app.js, app.css and the chunks. */
  dir: string;
  cached: boolean;
  ms: number;
}

function sourcesHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        h.update(relative(SLUICE_ROOT, p));
        h.update(readFileSync(p));
      }
    }
  };
  walk(WEB_SOURCES);
  h.update(readFileSync(join(SLUICE_ROOT, 'package-lock.json')));
  return h.digest('hex').slice(0, 16);
}

export async function buildWebBundle(
  cacheDir = join(SLUICE_ROOT, 'node_modules', '.cache', 'sluice-console'),
): Promise<WebBundle> {
  const started = Date.now();
  const dir = join(cacheDir, sourcesHash());
  if (existsSync(join(dir, 'app.js'))) return { dir, cached: true, ms: Date.now() - started };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build({
    entryPoints: { app: join(WEB_SOURCES, 'main.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    outdir: tmp,
    chunkNames: 'chunk-[hash]',
    logLevel: 'silent',
    legalComments: 'none',
    tsconfig: join(WEB_SOURCES, 'tsconfig.json'),
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, cached: false, ms: Date.now() - started };
}
