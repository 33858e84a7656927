/**
 * Sluice as a user installs it: `npm pack`, the tarball installed into a fresh folder next to only
 * aws-cdk-lib and constructs (its peer dependencies, at the versions this checkout pins), then a CDK
 * app that does `new SluiceCatalog(stack, 'Flow', { catalog })`, once in plain JavaScript (with real
 * bundling of the Lambda functions by the installed esbuild) and once in TypeScript compiled against
 * the package's .d.ts (strict, NodeNext). Each checks the template and the assets. Packages come from
 * the local npm cache when they are there (`--prefer-offline`); the first run on a machine may download.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  devDependencies: Record<string, string>;
};
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let dir: string;

function npm(args: string[], cwd: string): string {
  return execFileSync(NPM, args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface Template {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

function resourcesOf(template: Template, type: string) {
  return Object.values(template.Resources).filter((r) => r.Type === type);
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'infra', 'index.js')))
    throw new Error('dist/ is missing: run npm run build');
  dir = mkdtempSync(join(tmpdir(), 'sluice-package-'));
  // dist/ is built by `npm ci` (prepare); packing must not rebuild it here.
  const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  const files = packed[0].files.map((f) => f.path);
  writeFileSync(join(dir, 'files.json'), JSON.stringify(files));
  const app = join(dir, 'app');
  cpSync(join(ROOT, 'test/fixtures/catalog/valid'), join(app, 'catalog'), { recursive: true });
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'my-cdk-app', private: true, type: 'module' }),
  );
  npm(
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-package-lock',
      join(dir, packed[0].filename),
      `aws-cdk-lib@${pkg.devDependencies['aws-cdk-lib']}`,
      `constructs@${pkg.devDependencies.constructs}`,
    ],
    app,
  );
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the installable package', () => {
  it('ships compiled JavaScript, declarations, the bin and the sources the functions are bundled from; no tests', () => {
    const files = JSON.parse(readFileSync(join(dir, 'files.json'), 'utf8')) as string[];
    for (const f of [
      'package.json',
      'bin/sluice.js',
      'dist/infra/index.js',
      'dist/infra/index.d.ts',
      'dist/shared/testing/index.js',
      'dist/shared/testing/index.d.ts',
      'dist/cli/main.js',
      'dist/.build-stamp', // bin/sluice.js runs dist/ only when it is there
      'functions/ingest.ts',
    ]) {
      expect(files, f).toContain(f);
    }
    // No tsconfig.json either: without it, bin/sluice.js knows it is installed and runs dist/ as is.
    const unwanted = (f: string) =>
      f.startsWith('test/') || f.startsWith('bench/') || f.endsWith('.tsbuildinfo') || f === 'tsconfig.json';
    expect(files.filter(unwanted)).toEqual([]);
    const installed = join(dir, 'app', 'node_modules');
    expect(readdirSync(installed)).toEqual(expect.arrayContaining([pkg.name, 'aws-cdk-lib', 'constructs']));
    // One aws-cdk-lib and one constructs (peer dependencies), or constructs would not be the user's.
    expect(existsSync(join(installed, pkg.name, 'node_modules', 'aws-cdk-lib'))).toBe(false);
    expect(existsSync(join(installed, pkg.name, 'node_modules', 'constructs'))).toBe(false);
  });

  it('installs the sluice command, which checks and tests a catalog', () => {
    const app = join(dir, 'app');
    const bin = join(app, 'node_modules', '.bin', 'sluice');
    const check = spawnSync(bin, ['check', 'catalog/flow.yaml'], { cwd: app, encoding: 'utf8' });
    expect(check.stderr).not.toMatch(/error/i); // this catalog has warnings, on purpose
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/^catalog\/flow\.yaml: .*: OK\n$/);
    const test = spawnSync(bin, ['test', 'catalog/flow.yaml'], { cwd: app, encoding: 'utf8' });
    expect(test.stdout).toMatch(/\d+ passed, 0 failed\n$/);
    expect(test.status).toBe(0);
  });

  it('synthesizes a stack from plain JavaScript, bundling the functions', () => {
    const app = join(dir, 'app');
    writeFileSync(
      join(app, 'app.mjs'),
      `import { App, Stack } from 'aws-cdk-lib';
import { SluiceCatalog } from '${pkg.name}';
const app = new App({ outdir: 'cdk.out.js' });
const stack = new Stack(app, 'MyStack');
const flow = new SluiceCatalog(stack, 'Flow', { catalog: 'catalog/flow.yaml' });
console.log(JSON.stringify({ collections: Object.keys(flow.catalog.collections) }));
app.synth();
`,
    );
    const r = spawnSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).collections.length).toBeGreaterThan(0);
    const template = JSON.parse(
      readFileSync(join(app, 'cdk.out.js', 'MyStack.template.json'), 'utf8'),
    ) as Template;
    expect(resourcesOf(template, 'AWS::Kinesis::Stream').length).toBeGreaterThan(0);
    const functions = resourcesOf(template, 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const f of functions) expect(f.Properties?.Runtime).toBe('nodejs24.x');
    // Each function's asset folder holds its bundle and the built catalog.
    const assets = readdirSync(join(app, 'cdk.out.js')).filter((d) => d.startsWith('asset.'));
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) {
      const inside = readdirSync(join(app, 'cdk.out.js', a));
      if (inside.includes('index.mjs')) expect(inside).toContain('catalog.json');
    }
  });

  it('type-checks and synthesizes from TypeScript (strict, NodeNext) against the package declarations', () => {
    const app = join(dir, 'app');
    writeFileSync(
      join(app, 'app.ts'),
      `import { App, Stack } from 'aws-cdk-lib';
import { SluiceCatalog, type SluiceCatalogProps } from '${pkg.name}';
import { loadCatalog } from '${pkg.name}/testing';

const { catalog } = await loadCatalog('catalog/flow.yaml');
if (!catalog) throw new Error('invalid catalog');
const props: SluiceCatalogProps = { catalog, memorySize: 512 };
const app = new App({ outdir: 'cdk.out.ts', context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new Stack(app, 'MyStack');
const flow: SluiceCatalog = new SluiceCatalog(stack, 'Flow', props);
const streams: number = flow.streams.size;
console.log(streams);
app.synth();
`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          types: [],
          outDir: 'out',
        },
        files: ['app.ts'],
      }),
    );
    // The TypeScript compiler installed with the package (it is one of its dependencies).
    const tsc = spawnSync(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    const r = spawnSync(process.execPath, ['out/app.js'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const template = JSON.parse(
      readFileSync(join(app, 'cdk.out.ts', 'MyStack.template.json'), 'utf8'),
    ) as Template;
    expect(resourcesOf(template, 'AWS::Kinesis::Stream')).toHaveLength(Number(r.stdout.trim()));
    // The typed props reached the construct: every function got the memory size given.
    const sizes = resourcesOf(template, 'AWS::Lambda::Function').map((f) => f.Properties?.MemorySize);
    expect(sizes.length).toBeGreaterThan(0);
    expect(new Set(sizes)).toEqual(new Set([512]));
  });
});
