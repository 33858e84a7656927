// What `sluice check` and `sluice test` do at start: never load aws-cdk-lib, and with the validator
// cache warm neither load the TypeScript compiler nor compile a schema.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'sluice-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Preloaded into the CLI process: at exit, lists the CommonJS modules it loaded (aws-cdk-lib, typescript
// and ajv are CommonJS, so each would show up here).
const PRELOAD = join(dir, 'list-modules.cjs');
writeFileSync(
  PRELOAD,
  `process.on('exit', () => require('node:fs').writeFileSync(process.env.MODULE_LIST, Object.keys(require.cache).join('\\n')));`,
);

function loaded(args: string[], cache: string): string[] {
  const list = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(process.execPath, ['--require', PRELOAD, join(ROOT, 'bin/sluice.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, MODULE_LIST: list, SLUICE_CACHE_DIR: cache },
  });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(list, 'utf8').split('\n');
}

/** Cache entries as `kind/key` (shared/cache/content-cache.ts). */
const entries = (cache: string) =>
  readdirSync(cache)
    .flatMap((kind) => readdirSync(join(cache, kind)).map((f) => `${kind}/${f}`))
    .sort();

const from = (mods: string[], pkg: string) => mods.filter((m) => m.includes(`/node_modules/${pkg}/`));

describe('CLI start-up', () => {
  for (const command of ['check', 'test']) {
    it(`sluice ${command} loads no aws-cdk-lib, and with a warm cache compiles nothing`, () => {
      const cache = mkdtempSync(join(dir, 'cache-'));
      const args = [command, 'examples/fraud/flow.yaml'];
      const cold = loaded(args, cache);
      // Cold: validators are compiled (and cached) and the derivation module is inspected, once.
      const cached = entries(cache);
      expect(cached.filter((e) => e.startsWith('ajv/')).length).toBeGreaterThan(0);
      expect(cached.filter((e) => e.startsWith('module-inspection/')).length).toBeGreaterThan(0);
      expect(from(cold, 'typescript').filter((m) => m.includes('/typescript/lib/')).length).toBeGreaterThan(
        0,
      );

      const warm = loaded(args, cache);
      expect(from(warm, 'aws-cdk-lib')).toEqual([]);
      // (its package.json is read for the cache key; the compiler is typescript/lib/typescript.js)
      expect(from(warm, 'typescript').filter((m) => m.includes('/typescript/lib/'))).toEqual([]);
      // Warm: nothing compiled, so nothing new written.
      expect(entries(cache)).toEqual(cached);
      expect(from(cold, 'aws-cdk-lib')).toEqual([]);
    });
  }
});

describe('cached derivation checks', () => {
  it('a clean type check, cached, is redone when a module it read changes', () => {
    const cache = mkdtempSync(join(dir, 'cache-'));
    const copy = mkdtempSync(join(dir, 'fraud-'));
    cpSync(join(ROOT, 'examples/fraud'), copy, { recursive: true });
    const check = () =>
      spawnSync(process.execPath, [join(ROOT, 'bin/sluice.js'), 'check', join(copy, 'flow.yaml')], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, SLUICE_CACHE_DIR: cache },
      });
    expect(check().status).toBe(0);
    expect(entries(cache).some((e) => e.startsWith('typecheck/'))).toBe(true);
    const module = join(copy, 'velocity.ts');
    writeFileSync(module, `${readFileSync(module, 'utf8')}\nexport const broken: number = 'not a number';\n`);
    const r = check();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/velocity\.ts:\d+:\d+: .*TS2322/);
  });
});
