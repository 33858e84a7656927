/**
 * Cold start of each Lambda bundle: build it exactly as the stack does (infra/bundling.ts), ship the
 * clickstream example's built catalog next to it as catalog.json (and the derivation module, as the
 * stack does), then load it in a fresh Node process N times and report the median module-load time
 * (`await import(bundle)`, what Lambda's init phase runs before the first invocation) and the median
 * wall time of the whole process. Also prints each bundle's size against its budget.
 *
 * Run: `npm run bench -- coldstart`. Figures are from this machine, not from Lambda (arm64, 1 vCPU share).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BUNDLE_BUDGET_BYTES,
  bundleDerivationModule,
  bundleTo,
  entryExists,
  FUNCTION_KINDS,
  type FunctionKind,
} from '../infra/bundling.ts';
import { DERIVATION_MODULE_FILE } from '../infra/function.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import { type BuiltCatalog, typescriptOf } from '../shared/catalog/model.ts';
import { SLUICE_ROOT } from '../shared/package-root.ts';

const RUNS = 7;
const CATALOG = 'examples/clickstream/flow.yaml';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The task each kind runs in the clickstream example (SLUICE_TASK). */
function taskFor(kind: FunctionKind, catalog: BuiltCatalog): string | undefined {
  const derived = Object.values(catalog.collections).find((c) => c.derive);
  switch (kind) {
    case 'ingest':
      return Object.values(catalog.captures).find((c) => c.endpoint.connector === 'source-http-ingest')?.name;
    case 'derive':
      return derived?.name;
    case 'materialize':
      return Object.keys(catalog.materializations)[0];
    case 'persist':
      return Object.keys(catalog.collections)[0];
    default:
      return undefined;
  }
}

export async function run(): Promise<void> {
  const { catalog } = await loadCatalog(join(SLUICE_ROOT, CATALOG));
  if (!catalog) throw new Error(`${CATALOG} does not load: run sluice check on it`);
  console.log(`coldstart: ${CATALOG}, median of ${RUNS} fresh Node ${process.version} processes per bundle`);
  console.log('function      bundle KiB  budget KiB  import ms  process ms');
  for (const kind of FUNCTION_KINDS) {
    const task = taskFor(kind, catalog);
    if (!entryExists(kind) || task === undefined) {
      console.log(`${kind.padEnd(12)}  (no entry file or no such task in the example: not measured)`);
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), `sluice-coldstart-${kind}-`));
    // The SDK is external (the Lambda runtime has it); locally it resolves from our node_modules.
    symlinkSync(join(SLUICE_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const { file, bytes } = await bundleTo(kind, dir);
    let shipped = catalog;
    const env: Record<string, string> = {};
    if (kind === 'derive') {
      const spec = catalog.collections[task];
      const ts = typescriptOf(spec.derive);
      const module = ts?.module as string;
      const moduleFile = join(dir, DERIVATION_MODULE_FILE);
      await bundleDerivationModule(module, moduleFile, ts?.imports);
      env.SLUICE_DERIVATION_MODULE = moduleFile;
      shipped = {
        ...catalog,
        collections: {
          ...catalog.collections,
          [task]: {
            ...spec,
            derive: {
              ...(spec.derive as NonNullable<typeof spec.derive>),
              using: { typescript: { module: moduleFile } },
            },
          },
        },
      };
    }
    writeFileSync(join(dir, 'catalog.json'), JSON.stringify(shipped));
    const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
    const imports: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: dir,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          SLUICE_CATALOG: './catalog.json',
          SLUICE_TASK: task,
          ...env,
        },
      });
      walls.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`${kind}: loading the bundle failed: ${r.stderr.slice(0, 2000)}`);
      imports.push(Number(r.stdout));
    }
    console.log(
      `${kind.padEnd(12)}  ${(bytes / 1024).toFixed(0).padStart(10)}  ${(BUNDLE_BUDGET_BYTES[kind] / 1024).toFixed(0).padStart(10)}  ${median(imports).toFixed(1).padStart(9)}  ${median(walls).toFixed(0).padStart(10)}`,
    );
  }
}
