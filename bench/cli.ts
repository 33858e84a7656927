/**
 * Start-up of the `sluice` command next to `node -e 0`, measured in the same run, interleaved, as the
 * median wall time of fresh processes: `sluice check` and `sluice test` on the fraud example (a
 * derivation module, `$ref`s across schema files), with the compiled-validator cache warm (every run
 * after the first on a machine) and cold (a fresh SLUICE_CACHE_DIR: compiling ajv validators and
 * inspecting the module with the TypeScript compiler). Targets: check ≤ 4×, test ≤ 6× `node -e 0`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.SLUICE_BENCH_CLI_RUNS ?? 15);
const CATALOG = 'examples/fraud/flow.yaml';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Wall milliseconds of one process; throws when it fails. */
function wall(args: string[], env: Record<string, string> = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(`node ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(0, 2000)}`);
  return ms;
}

export async function run(): Promise<void> {
  const bin = join(ROOT, 'bin/sluice.js');
  if (!existsSync(join(ROOT, 'dist/.build-stamp'))) {
    console.log('dist/ is not built (npm run build): the CLI would run its TypeScript through tsx');
  }
  const cases: { name: string; args: string[]; cold?: boolean; target?: number }[] = [
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: `sluice check ${CATALOG}`, args: [bin, 'check', CATALOG], target: 4 },
    { name: `sluice test ${CATALOG}`, args: [bin, 'test', CATALOG], target: 6 },
    { name: 'sluice check, cold cache', args: [bin, 'check', CATALOG], cold: true },
    { name: 'sluice test, cold cache', args: [bin, 'test', CATALOG], cold: true },
  ];
  const cache = mkdtempSync(join(tmpdir(), 'sluice-bench-cli-cache-'));
  const times: number[][] = cases.map(() => []);
  try {
    // Warm this run's cache (and the OS file cache) once.
    wall([bin, 'test', CATALOG], { SLUICE_CACHE_DIR: cache });
    for (let r = 0; r < RUNS; r++) {
      for (const [i, c] of cases.entries()) {
        const dir = c.cold ? mkdtempSync(join(tmpdir(), 'sluice-bench-cli-cold-')) : cache;
        times[i].push(wall(c.args, { SLUICE_CACHE_DIR: dir }));
        if (c.cold) rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
  const base = median(times[0]);
  console.log(`median wall time of ${RUNS} fresh processes each, interleaved (Node ${process.version})`);
  for (const [i, c] of cases.entries()) {
    const ms = median(times[i]);
    const ratio = ms / base;
    const verdict =
      c.target === undefined ? '' : ` (target <= ${c.target}x) ${ratio <= c.target ? 'OK' : 'ABOVE TARGET'}`;
    console.log(
      `${c.name.padEnd(44)} ${ms.toFixed(0).padStart(6)} ms  ${ratio.toFixed(1).padStart(5)}x node -e 0${verdict}`,
    );
  }
}
