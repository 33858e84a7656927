/**
 * How Lambda bundles are built: one esbuild entry per function kind, ESM, minified, for arm64 Node.
 * The same bundles are shipped by infra/function.ts and measured by the bundle-size test and the
 * cold-start bench, so what is measured is what ships.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BuildOptions, buildSync } from 'esbuild';
import { tsconfigPaths } from '../shared/catalog/derive-using.ts';
import { remoteDirOf } from '../shared/catalog/remote-modules.ts';
import { SluiceError } from '../shared/errors.ts';
import { SLUICE_ROOT } from '../shared/package-root.ts';
import { childScriptArgs } from './child-script.ts';

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

/** esbuild options of a function kind's bundle: what infra/function.ts ships, the bundle-size test checks and the bench runs. */
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

/** esbuild could not bundle a function's code (a derivation module that does not compile, a missing import). */
export class BundleFailedError extends SluiceError {
  readonly code = 'BundleFailed';
  constructor(
    /** The entry that failed: a handler entry or a derivation module. */
    readonly entry: string,
    /** esbuild's messages, `file:line:column: text` each. */
    readonly messages: string[],
  ) {
    super(`bundling ${entry} failed:\n${messages.join('\n')}`);
    this.name = 'BundleFailedError';
  }
}

/**
 * Bundles built in this process, by what they are built from. Every function of a kind ships the same
 * bundle (only its catalog.json differs), so a catalog of 200 collections builds the persister once, not
 * 200 times; and esbuild runs in this process, where the CDK construct for it (NodejsFunction) started
 * `npx esbuild` per function: ≈ 0.9 s each, 58 of the 72 s of synthesizing a 60-table catalog.
 */
const built = new Map<string, Uint8Array>();

function buildOnce(
  key: string,
  entry: string,
  options: BuildOptions,
  remoteImports?: Record<string, string>,
): Uint8Array {
  let out = built.get(key);
  if (!out) {
    out = remoteImports ? buildInChild(entry, options, remoteImports) : buildHere(entry, options);
    built.set(key, out);
  }
  return out;
}

/** esbuild's synchronous build in this process. */
function buildHere(entry: string, options: BuildOptions): Uint8Array {
  // Loaded on first use: the CLI imports this module for its constants and must not pay for esbuild.
  const esbuild = createRequire(import.meta.url)('esbuild') as { buildSync: typeof buildSync };
  let result: ReturnType<typeof buildSync>;
  try {
    result = esbuild.buildSync({ ...options, write: false });
  } catch (e) {
    const failure = e as {
      errors?: { text: string; location?: { file: string; line: number; column: number } | null }[];
    };
    if (!failure.errors) throw e;
    throw new BundleFailedError(entry, bundleMessages(failure.errors));
  }
  const out = result.outputFiles?.[0]?.contents;
  if (!out) throw new BundleFailedError(entry, ['esbuild wrote no output']);
  return out;
}

/** esbuild's errors as BundleFailedError's messages: `file:line:column: text` each. */
function bundleMessages(
  errors: { text: string; location?: { file: string; line: number; column: number } | null }[],
): string[] {
  return errors.map((m) =>
    m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}` : m.text,
  );
}

/** A module with remote imports, bundled by infra/bundle-child.ts (esbuild's plugins are async only). */
function buildInChild(entry: string, options: BuildOptions, imports: Record<string, string>): Uint8Array {
  const child = spawnSync(process.execPath, childScriptArgs('bundle-child'), {
    input: JSON.stringify({ options, imports }),
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (child.status !== 0) {
    let errors: { text: string }[];
    try {
      errors = (JSON.parse(child.stderr.toString()) as { errors: { text: string }[] }).errors;
    } catch {
      errors = [{ text: `bundling in a child process failed (exit ${child.status}): ${child.stderr}` }];
    }
    throw new BundleFailedError(entry, bundleMessages(errors));
  }
  return new Uint8Array(child.stdout);
}

/**
 * A derivation module's path and the hash of its text: a module edited between two syntheses in one
 * process (a test, a long-lived app) is built again, and its asset is told apart from the old one.
 */
export function moduleFingerprint(module: string): string {
  // A module not (yet) on disk: its path alone. Synth without bundling never reads it, and bundling it
  // fails with esbuild's own error.
  if (!existsSync(module)) return module;
  return `${module}#${createHash('sha256').update(readFileSync(module)).digest('hex').slice(0, 16)}`;
}

/** A function kind's bundle (`index.mjs`), built once per process. */
export function kindBundle(kind: FunctionKind): Uint8Array {
  return buildOnce(`kind:${kind}`, entryPath(kind), esbuildOptions(kind, 'index.mjs'));
}

/**
 * A TypeScript derivation module as the derive function ships it beside its bundle: `flow/…` and the
 * deno.json import map resolve through tsconfig paths.
 */
export function derivationModuleBundle(module: string, imports?: Record<string, string>): Uint8Array {
  return buildOnce(
    `module:${moduleFingerprint(module)}:${JSON.stringify(imports ?? null)}`,
    module,
    {
      ...esbuildOptions('derive', 'derivation.mjs'),
      entryPoints: [module],
      ...(imports
        ? { tsconfigRaw: { compilerOptions: { baseUrl: '/', paths: tsconfigPaths(imports) } } }
        : {}),
    },
    // Remote imports (fetched into the catalog's cache when it was loaded) need esbuild's plugin API.
    remoteDirOf(imports) ? imports : undefined,
  );
}

/** Write one function kind's bundle to `<dir>/index.mjs` (bundle-size test, bench); returns its path and size. */
export function bundleTo(kind: FunctionKind, dir: string): { file: string; bytes: number } {
  const file = join(dir, 'index.mjs');
  const code = kindBundle(kind);
  writeFileSync(file, code);
  return { file, bytes: code.length };
}

/** Write a derivation module's bundle to `outfile` (bench). */
export function bundleDerivationModule(
  module: string,
  outfile: string,
  imports?: Record<string, string>,
): void {
  writeFileSync(outfile, derivationModuleBundle(module, imports));
}
