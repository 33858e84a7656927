/**
 * `sluice combine` as a whole process on one million click events (≈ 166 bytes each, 10,000 keys, a
 * schema with sum, maximize, minimize, merge and lastWriteWins), stdin to stdout, next to its floor
 * measured in the same run: a process that reads the same lines from stdin, `JSON.parse`s each and
 * validates it with the collection's compiled ajv validator, on one thread, and writes nothing.
 * Wall times, median of alternating rounds (the machine is shared: quote the ratio, not the rates).
 * Target (issue 13): combine (as it chooses: a shard per core) ≥ 0.8× the floor.
 *
 * Also exported for the tests: the workload (catalog, documents) and the floor script.
 */
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { prng } from './combine.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOCS = Number(process.env.SLUICE_BENCH_MILLION_DOCS ?? 1_000_000);
const KEYS = 10_000;
const ROUNDS = Number(process.env.SLUICE_BENCH_ROUNDS ?? 3);
export const COLLECTION = 'bench/clicks';

export const CATALOG = `collections:
  ${COLLECTION}:
    key: [/user]
    schema:
      type: object
      reduce: { strategy: merge }
      required: [user, views]
      properties:
        user: { type: string }
        views: { type: integer, reduce: { strategy: sum } }
        dwell: { type: number, reduce: { strategy: sum } }
        first: { type: string, format: date-time, reduce: { strategy: minimize } }
        last: { type: string, reduce: { strategy: maximize } }
        page: { type: string, reduce: { strategy: lastWriteWins } }
        ref: { type: string, maxLength: 32 }
        device: { type: string, enum: [mobile, desktop, tablet] }
`;

const DEVICES = ['mobile', 'desktop', 'tablet'];
const REFS = ['google', 'newsletter', 'direct', 'twitter'];

/** One click event (≈ 166 bytes) of user number `k`. */
export function clickLine(rand: () => number, k: number): string {
  const ts = new Date(Date.UTC(2024, 4, 1) + Math.floor(rand() * 86_400_000)).toISOString();
  return JSON.stringify({
    user: `user-${String(k).padStart(6, '0')}`,
    views: 1,
    dwell: Math.round(rand() * 100_000) / 100,
    first: ts,
    last: ts,
    page: `/p/${Math.floor(rand() * 5000)}`,
    ref: REFS[Math.floor(rand() * REFS.length)],
    device: DEVICES[Math.floor(rand() * DEVICES.length)],
  });
}

/** Writes the catalog and `docs` click events into a fresh folder. */
export function writeWorkload(
  docs: number,
  keys = KEYS,
): { dir: string; catalog: string; input: string; bytes: number } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-million-'));
  const catalog = join(dir, 'flow.yaml');
  writeFileSync(catalog, CATALOG);
  const rand = prng(1);
  const parts: string[] = [];
  for (let i = 0; i < docs; i++) parts.push(clickLine(rand, Math.floor(rand() * keys)));
  const text = parts.join('\n') + '\n';
  const input = join(dir, 'input.jsonl');
  writeFileSync(input, text);
  return { dir, catalog, input, bytes: Buffer.byteLength(text) };
}

/** Sluice's compiled modules when built (as the CLI runs them), else the sources through tsx. */
const COMPILED = existsSync(join(ROOT, 'dist/shared/catalog/load.js'));
const mod = (p: string) => JSON.stringify(COMPILED ? join(ROOT, 'dist', `${p}.js`) : join(ROOT, `${p}.ts`));

/** The floor, as a script run with `node -e` (one thread: read stdin, parse, validate). */
const FLOOR_SCRIPT = `
import { loadCatalog } from ${mod('shared/catalog/load')};
import { SchemaRegistry } from ${mod('shared/schema/registry')};
const { catalog } = await loadCatalog(process.argv[1]);
const spec = catalog.collections[process.argv[2]];
const v = new SchemaRegistry(catalog.schemas).validator(spec.writeSchema);
let rest = '';
let n = 0;
for await (const chunk of process.stdin.setEncoding('utf8')) {
  const text = rest + chunk;
  const end = text.lastIndexOf('\\n');
  rest = text.slice(end + 1);
  const lines = text.slice(0, end).split('\\n');
  for (const l of lines) if (v.isValid(JSON.parse(l))) n++;
}
if (rest.trim() !== '' && v.isValid(JSON.parse(rest))) n++;
process.stderr.write(String(n));
`;

/** Runs a process with `input` on stdin; resolves its wall seconds (start-up included), stdout size and stderr. */
function timed(
  args: string[],
  input: string,
  env: Record<string, string> = {},
): Promise<{ seconds: number; out: number; err: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += String(d);
    });
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, out, err, code }),
    );
    child.stdin.on('error', () => {}); // a child that fails early closes its stdin: its stderr says why
    createReadStream(input).pipe(child.stdin);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function run(): Promise<void> {
  const w = writeWorkload(DOCS);
  try {
    const floorArgs = [
      ...(COMPILED ? [] : ['--import', 'tsx']),
      '--input-type=module',
      '-e',
      FLOOR_SCRIPT,
      w.catalog,
      COLLECTION,
    ];
    const combineArgs = [join(ROOT, 'bin/sluice.js'), 'combine', w.catalog, '--collection', COLLECTION];
    // `sluice combine` as it chooses (one shard per core), then forced to one and to two threads.
    const variants: { name: string; env: Record<string, string> }[] = [
      { name: 'sluice combine (default: a shard per core)', env: {} },
      { name: 'sluice combine, 1 thread', env: { SLUICE_COMBINE_THREADS: '1' } },
      { name: 'sluice combine, 2 shard threads', env: { SLUICE_COMBINE_THREADS: '2' } },
    ];
    // Warm the validator cache and the OS file cache once.
    await timed(combineArgs, w.input);
    const floors: number[] = [];
    const times: number[][] = variants.map(() => []);
    const load0 = loadavg()[0];
    for (let r = 0; r < ROUNDS; r++) {
      const f = await timed(floorArgs, w.input);
      if (f.code !== 0 || f.err.trim() !== String(DOCS))
        throw new Error(`floor failed: ${f.err.slice(0, 2000)}`);
      floors.push(f.seconds);
      for (const [i, v] of variants.entries()) {
        const c = await timed(combineArgs, w.input, v.env);
        if (c.code !== 0 || c.out === 0) throw new Error(`${v.name} failed: ${c.err.slice(0, 2000)}`);
        times[i].push(c.seconds);
      }
    }
    const f = median(floors);
    const rate = (t: number) =>
      `${Math.round(DOCS / t)
        .toLocaleString('en-US')
        .padStart(10)} docs/s ${(w.bytes / t / 1e6).toFixed(1).padStart(6)} MB/s`;
    console.log(
      `${DOCS.toLocaleString('en-US')} click events (${(w.bytes / DOCS).toFixed(0)} B avg), ${KEYS.toLocaleString('en-US')} keys, ` +
        `whole processes stdin -> stdout, median wall time of ${ROUNDS} rounds; ` +
        `${availableParallelism()} cores, load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`,
    );
    console.log(
      `${'floor: read lines + JSON.parse + ajv validate, 1 thread'.padEnd(56)} ${rate(f)}  (${f.toFixed(2)} s)`,
    );
    for (const [i, v] of variants.entries()) {
      const c = median(times[i]);
      const ratio = f / c;
      console.log(
        `${v.name.padEnd(56)} ${rate(c)}  (${c.toFixed(2)} s)  ${ratio.toFixed(2)}x the floor` +
          (i === 0 ? ` (target >= 0.8x) ${ratio >= 0.8 ? 'OK' : 'BELOW TARGET'}` : ''),
      );
    }
  } finally {
    rmSync(w.dir, { recursive: true, force: true });
  }
  if (process.env.SLUICE_BENCH_NO_MEMORY !== '1') await memory();
}

/**
 * The CLI process runs in-process here (bin/sluice.js imported by a wrapper), so that the wrapper can
 * print the whole process's peak RSS (main thread and shard workers) on stderr after it.
 */
const RSS_WRAPPER = `
process.argv.splice(1, 0, 'sluice');
await import(${JSON.stringify(pathToFileURL(join(ROOT, 'bin/sluice.js')).href)});
process.on('exit', () => process.stderr.write('maxrss=' + process.resourceUsage().maxRSS * 1024 + '\\n'));
`;

/** Peak RSS of `sluice combine --memory 32` on N and 10×N documents, one key per two documents (so it must spill). */
async function memory(): Promise<void> {
  const budget = 32;
  const n = Number(process.env.SLUICE_BENCH_MEMORY_DOCS ?? 200_000);
  console.log(
    `memory: sluice combine --memory ${budget} (a shard per core, each with its share of the budget), one key per two documents:`,
  );
  for (const docs of [n, 10 * n]) {
    const w = writeWorkload(docs, docs >> 1);
    try {
      const args = [
        '--input-type=module',
        '-e',
        RSS_WRAPPER,
        'combine',
        w.catalog,
        '--collection',
        COLLECTION,
      ];
      const r = await timed([...args, '--memory', String(budget)], w.input);
      const rss = /maxrss=(\d+)/.exec(r.err);
      if (r.code !== 0 || !rss) throw new Error(`memory run failed: ${r.err.slice(0, 2000)}`);
      console.log(
        `${docs.toLocaleString('en-US').padStart(10)} docs (${(w.bytes / 2 ** 20).toFixed(0)} MiB) -> ` +
          `${(r.out / 2 ** 20).toFixed(0)} MiB out; peak RSS ${(Number(rss[1]) / 2 ** 20).toFixed(0)} MiB; ${r.seconds.toFixed(1)} s`,
      );
    } finally {
      rmSync(w.dir, { recursive: true, force: true });
    }
  }
}
