/**
 * How Lambda bundles are built: one esbuild entry per function kind, ESM, minified, for arm64 Node.
 * The same options feed NodejsFunction (synth) and the bundle-size test / cold-start bench, so what is
 * measured is what ships.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsconfigPaths } from '../shared/catalog/derive-using.ts';

const UP = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Root of the Sluice package (where package.json, and in a checkout package-lock.json, live): the
 * parent of infra/, whether this module runs from the sources or compiled (dist/infra/).
 */
export const SLUICE_ROOT = basename(UP) === 'dist' ? dirname(UP) : UP;

export type FunctionKind = 'ingest' | 'derive' | 'materialize' | 'persist' | 'poll' | 's3-capture';

export const FUNCTION_KINDS: readonly FunctionKind[] = [
  'ingest',
  'derive',
  'materialize',
  'persist',
  'poll',
  's3-capture',
];

/** Entry file of each function kind, relative to SLUICE_ROOT. */
export const FUNCTION_ENTRIES: Record<FunctionKind, string> = {
  ingest: 'functions/ingest.ts',
  derive: 'functions/derive.ts',
  materialize: 'functions/materialize.ts',
  persist: 'functions/persist.ts',
  poll: 'functions/poll.ts',
  's3-capture': 'functions/s3-capture.ts',
};

export function entryPath(kind: FunctionKind): string {
  return join(SLUICE_ROOT, FUNCTION_ENTRIES[kind]);
}

export function entryExists(kind: FunctionKind): boolean {
  return existsSync(entryPath(kind));
}

/**
 * Size budget per bundle (minified, AWS SDK external: the Lambda runtime provides it). Exceeding it fails
 * `test/infra/bundle-size.test.ts`: raise it only with a reason.
 */
export const BUNDLE_BUDGET_BYTES: Record<FunctionKind, number> = {
  ingest: 512 * 1024,
  derive: 512 * 1024,
  // the materialize bundle carries every destination connector, including the PostgreSQL client
  materialize: 768 * 1024,
  persist: 512 * 1024,
  poll: 768 * 1024,
  's3-capture': 512 * 1024,
};

/** Node target of the bundles: the oldest Node Sluice supports (the Lambda runtime is newer). */
export const ESBUILD_TARGET = 'node20';

/**
 * ESM bundles that include CommonJS dependencies need a real `require` (esbuild's shim throws on
 * `require('node:...')` in ESM); this is the banner Powertools' examples use.
 */
export const ESM_REQUIRE_BANNER =
  "import{createRequire as __sluiceCreateRequire}from'node:module';const require=__sluiceCreateRequire(import.meta.url);";

/** Modules left out of the bundle: the AWS SDK v3 is part of the Node.js Lambda runtime. */
export const EXTERNAL_MODULES = ['@aws-sdk/*'];

/** esbuild options equivalent to the NodejsFunction bundling in infra/function.ts, for tests and bench. */
export function esbuildOptions(kind: FunctionKind, outfile: string) {
  return {
    entryPoints: [entryPath(kind)],
    outfile,
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: ESBUILD_TARGET,
    minify: true,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    external: EXTERNAL_MODULES,
    logLevel: 'silent' as const,
  };
}

/** Build one function's bundle as NodejsFunction would (`<dir>/index.mjs`); returns its path and size. */
export async function bundleTo(kind: FunctionKind, dir: string): Promise<{ file: string; bytes: number }> {
  const { build } = await import('esbuild');
  const file = join(dir, 'index.mjs');
  await build(esbuildOptions(kind, file));
  return { file, bytes: statSync(file).size };
}

/** Build a derivation module as infra/function.ts ships it next to the derive bundle. */
export async function bundleDerivationModule(
  module: string,
  outfile: string,
  imports?: Record<string, string>,
): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    ...esbuildOptions('derive', outfile),
    entryPoints: [module],
    // `flow/…` and the deno.json import map, as infra/function.ts passes them (`--tsconfig`).
    ...(imports ? { tsconfigRaw: { compilerOptions: { baseUrl: '/', paths: tsconfigPaths(imports) } } } : {}),
  });
}
