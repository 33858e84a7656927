/**
 * `npm run bench [-- name...]`: runs every benchmark module in bench/ (each exports
 * `async function run(): Promise<void>` and prints its own figures), or only the named ones.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface BenchModule {
  run?: () => Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const modules = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== basename(fileURLToPath(import.meta.url)))
  .map((f) => f.slice(0, -3))
  .sort();

const unknown = only.filter((name) => !modules.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${modules.join(', ')}`);
  process.exit(2);
}

// The CLI benchmarks run bin/sluice.js, which runs the compiled dist/ only when it is newer than every
// source (else it falls back to compiling through tsx, seconds slower): build first, as `npm ci` does.
const built = spawnSync(process.execPath, [join(here, '..', 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (built.status !== 0) {
  console.error('npm run build failed: the benchmarks would measure stale or missing compiled code');
  process.exit(1);
}

for (const name of modules) {
  if (only.length > 0 && !only.includes(name)) continue;
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as BenchModule;
  if (typeof mod.run !== 'function') {
    console.error(`bench/${name}.ts exports no run() function`);
    process.exitCode = 1;
    continue;
  }
  console.log(`\n## ${name}`);
  await mod.run();
}
