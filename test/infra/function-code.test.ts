/**
 * What each function ships, built as `cdk synth` builds it (bundling on, esbuild in the synth process):
 * its kind's bundle, the same bytes for every function of the kind; its own catalog.json, readable by
 * Lambda's runtime user; a TypeScript derivation's module and a SQLite derivation's WASM beside it. The
 * catalog is written only into the assembly (it may hold endpoint configs): before, each was staged in
 * a folder under the OS temp folder first, and stayed there.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { BundleFailedError, derivationModuleBundle } from '../../infra/bundling.ts';
import { DERIVATION_MODULE_FILE } from '../../infra/function.ts';
import { SluiceStack } from '../../infra/stack.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { SHIPPED_CATALOG_DIR } from '../../shared/catalog/task-catalog.ts';
import { SQLITE_WASM_FILE } from '../../shared/derive/sqlite/sql-js.ts';
import { readStackTemplate } from '../../shared/local/assembly/template.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/estuary-style/flow.yaml', import.meta.url));

describe('function code', () => {
  it('ships one bundle per kind, each function its own catalog.json, modules and WASM where needed', async () => {
    const catalog = (await loadCatalog(EXAMPLE)).catalog!;
    const outdir = mkdtempSync(join(tmpdir(), 'code-'));
    const tempBefore = readdirSync(tmpdir());
    // As the CDK CLI runs the app: asset metadata tells the local stack where each asset and nested template is.
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    new SluiceStack(app, 'Code', { catalog });
    app.synth();
    expect(readdirSync(tmpdir())).toEqual(tempBefore);

    const functions = readStackTemplate(outdir, 'Code').functions;
    const byKind = new Map<string, Buffer[]>();
    for (const fn of functions) {
      const label = fn.environment.POWERTOOLS_SERVICE_NAME;
      const files = readdirSync(fn.assetDir);
      expect(files, label).toContain('index.mjs');
      const shipped = join(fn.assetDir, 'catalog.json');
      expect(statSync(shipped).mode & 0o777, label).toBe(0o644);
      const part = JSON.parse(readFileSync(shipped, 'utf8')) as Record<string, Record<string, unknown>>;
      const [kind, task] = [label.slice(0, label.indexOf(':')), label.slice(label.indexOf(':') + 1)];
      const own = {
        persister: 'collections',
        derivation: 'collections',
        materialization: 'materializations',
      }[kind];
      if (own) expect(Object.keys(part[own]), label).toContain(task);
      if (kind === 'derivation') {
        const using = (catalog.collections[task].derive as { using: Record<string, unknown> }).using;
        expect(files.includes(DERIVATION_MODULE_FILE), label).toBe('typescript' in using);
        expect(files.includes(SQLITE_WASM_FILE), label).toBe('sqlite' in using);
      }
      byKind.set(kind, [...(byKind.get(kind) ?? []), readFileSync(join(fn.assetDir, 'index.mjs'))]);
    }
    expect(byKind.get('persister')?.length).toBe(Object.keys(catalog.collections).length);
    expect(byKind.get('derivation')?.length).toBe(2);
    for (const [kind, bundles] of byKind)
      for (const b of bundles) expect(b.equals(bundles[0]), `${kind} bundles differ`).toBe(true);
  });

  it('the same catalog synthesized from two folders ships the same assets: no checkout path in catalog.json', async () => {
    // A laptop and CI check the project out in different folders; before, every catalog.json named the
    // folder (root, schema URIs, source locations), so every function changed on each deploy.
    const synthIn = async (name: string) => {
      const dir = join(mkdtempSync(join(tmpdir(), `${name}-`)), 'flows');
      cpSync(dirname(EXAMPLE), dir, { recursive: true });
      const catalog = (await loadCatalog(join(dir, 'flow.yaml'))).catalog!;
      const outdir = mkdtempSync(join(tmpdir(), 'code-'));
      const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
      new SluiceStack(app, 'Code', { catalog });
      app.synth();
      const functions = readStackTemplate(outdir, 'Code').functions;
      for (const fn of functions) {
        const shipped = readFileSync(join(fn.assetDir, 'catalog.json'), 'utf8');
        expect(shipped).not.toContain(dir);
        expect((JSON.parse(shipped) as { root: string }).root).toBe(`${SHIPPED_CATALOG_DIR}/flow.yaml`);
      }
      return functions.map((fn) => basename(fn.assetDir)).sort();
    };
    const [laptop, ci] = [await synthIn('laptop'), await synthIn('ci')];
    expect(laptop.length).toBeGreaterThan(5);
    expect(laptop).toEqual(ci);
  });

  it('a module edited between two builds in one process is built again', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'edited-module-')), 'mod.ts');
    writeFileSync(file, "export const greeting: string = 'first';\n");
    expect(Buffer.from(derivationModuleBundle(file)).toString()).toContain('first');
    writeFileSync(file, "export const greeting: string = 'second';\n");
    expect(Buffer.from(derivationModuleBundle(file)).toString()).toContain('second');
  });

  it('a module esbuild cannot bundle fails with its file, line and column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-module-'));
    const file = join(dir, 'bad.ts');
    writeFileSync(file, "import { missing } from './nowhere.ts';\nexport const x = missing;\n");
    let error: unknown;
    try {
      derivationModuleBundle(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BundleFailedError);
    expect((error as BundleFailedError).code).toBe('BundleFailed');
    expect((error as Error).message).toMatch(/bad\.ts:1:24: Could not resolve "\.\/nowhere\.ts"/);
  });
});
