/**
 * Synthesize a catalog into a cloud assembly with the project's own CDK app (infra/app.ts: the same
 * `SluiceCatalog` construct and cdk-nag checks as `cdk deploy`), as the CDK CLI runs an app: a child
 * process with CDK_OUTDIR and CDK_CONTEXT_JSON. Assemblies are cached by content hash (the catalog's
 * folder, Sluice's own sources and the lock file), so an unchanged catalog starts warm.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { BuiltCatalog } from '../../catalog/model.ts';
import { SLUICE_ROOT as ROOT } from '../../package-root.ts';
import { AssemblyError } from './errors.ts';

const SKIP = new Set(['node_modules', '.sluice', 'cdk.out', '.git', 'flow_generated']);

/**
 * Whether a file or folder name is left out of an assembly's content hash (dependencies, local data,
 * generated types, hidden files): edits there never change what is synthesized (watch.ts ignores them).
 */
export function outsideAssembly(name: string): boolean {
  return SKIP.has(name) || name.startsWith('.');
}

function hashTree(h: ReturnType<typeof createHash>, dir: string, base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of entries) {
    if (outsideAssembly(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) hashTree(h, p, base);
    else if (st.isFile() && st.size < 8 * 1024 * 1024) {
      h.update(relative(base, p));
      h.update(readFileSync(p));
    }
  }
}

/** Content hash of what a synthesized assembly depends on. */
export function assemblyHash(catalogPath: string, context: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(context));
  h.update(resolve(catalogPath));
  hashTree(h, dirname(resolve(catalogPath)), dirname(resolve(catalogPath)));
  for (const d of ['bin', 'infra', 'functions', 'shared']) hashTree(h, join(ROOT, d), ROOT);
  h.update(readFileSync(join(ROOT, 'package-lock.json')));
  return h.digest('hex').slice(0, 20);
}

/**
 * The cached assembly of a catalog file, if its content (and Sluice's sources) were synthesized before:
 * then it was also valid then (synth fails on catalog errors), and a warm start needs neither the
 * catalog loader nor the CDK app.
 */
export function cachedAssembly(
  catalogPath: string,
  cacheDir: string,
  context: Record<string, unknown> = {},
): string | undefined {
  const dir = join(
    resolve(cacheDir),
    assemblyHash(catalogPath, { ...context, catalog: resolve(catalogPath) }),
  );
  return existsSync(join(dir, 'manifest.json')) ? dir : undefined;
}

export interface SynthResult {
  dir: string;
  /** True when the assembly came from the cache. */
  cached: boolean;
  ms: number;
}

/**
 * Synthesize `catalogPath` into `<cacheDir>/<hash>` (reused when present). `context` adds CDK context
 * (`stack`, `streams`, …). Synth errors (catalog diagnostics, cdk-nag findings) reject with their text.
 */
export async function synthesize(
  catalog: string | BuiltCatalog,
  cacheDir: string,
  context: Record<string, unknown> = {},
): Promise<SynthResult> {
  const started = Date.now();
  let catalogPath: string;
  let ctx: Record<string, unknown>;
  if (typeof catalog === 'string') {
    catalogPath = catalog;
    ctx = { ...context, catalog: resolve(catalogPath) };
  } else {
    // A catalog built in memory: synthesized from its JSON (infra/app.ts `builtCatalog` context).
    catalogPath = catalog.root;
    const text = JSON.stringify(catalog);
    const file = join(
      resolve(cacheDir),
      `built-${createHash('sha256').update(text).digest('hex').slice(0, 20)}.json`,
    );
    mkdirSync(resolve(cacheDir), { recursive: true });
    writeFileSync(file, text, { mode: 0o600 });
    ctx = {
      ...context,
      catalog: resolve(catalogPath),
      builtCatalog: file,
      builtHash: createHash('sha256').update(text).digest('hex'),
    };
  }
  const hash = assemblyHash(catalogPath, ctx);
  const dir = join(resolve(cacheDir), hash);
  if (existsSync(join(dir, 'manifest.json'))) return { dir, cached: true, ms: Date.now() - started };
  mkdirSync(resolve(cacheDir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const env = {
    ...process.env,
    CDK_OUTDIR: tmp,
    CDK_CONTEXT_JSON: JSON.stringify({
      'aws:cdk:enable-asset-metadata': true,
      'aws:cdk:enable-path-metadata': true,
      'cli-telemetry': false,
      ...ctx,
    }),
    // CDK's built-in CloudFormation validation (cfn-lint in WASM, ≈ 3.5 s of every synth) only
    // reports warnings here, which nobody would see: `cdk synth` and `cdk deploy` still run it, and
    // test/infra/app.test.ts holds every example's template to it.
    CDK_VALIDATION: 'false',
    CDK_DISABLE_VERSION_CHECK: '1',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const out = await new Promise<{ code: number | null; stderr: string }>((ok) => {
    // bin/cdk-app.js runs the compiled app when dist/ is current, else infra/app.ts through tsx.
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'cdk-app.js')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout.on('data', (d) => {
      stderr += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.on('close', (code) => ok({ code, stderr }));
  });
  if (out.code !== 0 || !existsSync(join(tmp, 'manifest.json'))) {
    rmSync(tmp, { recursive: true, force: true });
    const text = out.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/^\s*\.\.\.|⚡|^\s*$|feature flags/.test(l))
      .join('\n');
    throw new AssemblyError(catalogPath, `synth failed (exit ${out.code}):\n${text}`);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, cached: false, ms: Date.now() - started };
}
