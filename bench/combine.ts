/**
 * Combiner throughput next to its floor, measured in the same run on the same documents:
 * - floor: JSON.parse + compiled ajv validation (the collection's CompiledSchema), nothing else;
 * - combine: JSON.parse + Combiner.addMany (validate, extract and pack the key, partially reduce in
 *   place: `ownsDocuments`, as `sluice combine` does) + a full drain.
 * ~200-byte documents, 10k distinct keys, a schema with merge / sum / maximize / lastWriteWins.
 * Medians over several alternating rounds (the machine is shared and noisy). Target: combine ≥ 50 % of the floor.
 *
 * Memory: each size runs in a fresh child process (clean peak RSS) with a fixed budget and one key per
 * two documents, so that without spilling memory would grow with the input; N and 10×N should peak alike.
 * The live heap is measured after forced GCs; V8's heap is capped so that unbounded growth would fail.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CollectionSpec } from '../shared/catalog/model.ts';
import { Combiner } from '../shared/combine/index.ts';
import type { Json, JsonObject } from '../shared/json/types.ts';
import { Reducer } from '../shared/reduce/index.ts';
import { SchemaRegistry } from '../shared/schema/registry.ts';

export const SCHEMA_URI = 'file:///bench/combine.schema.json';
export const SCHEMA: Json = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: SCHEMA_URI,
  type: 'object',
  reduce: { strategy: 'merge' },
  required: ['id'],
  properties: {
    id: { type: 'string' },
    count: { type: 'integer', reduce: { strategy: 'sum' } },
    total: { type: 'number', reduce: { strategy: 'sum' } },
    maxSeen: { type: 'integer', reduce: { strategy: 'maximize' } },
    lastSeen: { type: 'string', format: 'date-time' },
    region: { type: 'string', enum: ['eu-west-1', 'us-east-1', 'ap-south-1'] },
    attrs: {
      type: 'object',
      reduce: { strategy: 'merge' },
      properties: { score: { type: 'number', reduce: { strategy: 'maximize' } } },
      additionalProperties: { type: ['string', 'number', 'boolean'] },
    },
    note: { type: 'string', maxLength: 200 },
  },
};

export const COLLECTION: CollectionSpec = {
  name: 'bench/events',
  writeSchema: SCHEMA_URI,
  readSchema: SCHEMA_URI,
  key: ['/id'],
  projections: {},
  source: { file: fileURLToPath(import.meta.url), line: 1, col: 1, pointer: '' },
};

const ROUNDS = 7;
const DOCS = 100_000;
const KEYS = 10_000;
const BATCH = 256;

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const BROWSERS = ['firefox', 'chrome', 'safari', 'edge'];

/** One ~200-byte JSON line for key number `k`. */
export function line(rand: () => number, k: number): string {
  const ts = new Date(Date.UTC(2024, 4, 1) + Math.floor(rand() * 86_400_000)).toISOString();
  return JSON.stringify({
    id: `user-${String(k).padStart(8, '0')}`,
    count: 1,
    total: Math.round(rand() * 10_000) / 100,
    maxSeen: Math.floor(rand() * 1_000_000),
    lastSeen: ts,
    region: REGIONS[Math.floor(rand() * REGIONS.length)],
    attrs: {
      browser: BROWSERS[Math.floor(rand() * BROWSERS.length)],
      mobile: rand() < 0.5,
      score: Math.floor(rand() * 100),
    },
    note: 'x'.repeat(20 + Math.floor(rand() * 20)),
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * CPU seconds (user + system, all threads of this process, so GC helpers count) since `t0`. On a
 * shared, loaded machine this is far steadier than wall time, which also counts waiting for a core.
 */
function cpuSeconds(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function throughput(): Promise<void> {
  const registry = new SchemaRegistry({ [SCHEMA_URI]: SCHEMA });
  const validator = registry.validator(SCHEMA_URI);
  const rand = prng(42);
  const lines = Array.from({ length: DOCS }, () => line(rand, Math.floor(rand() * KEYS)));
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);

  const floor = (): number => {
    const t0 = process.cpuUsage();
    let valid = 0;
    for (const l of lines) if (validator.isValid(JSON.parse(l) as Json)) valid++;
    const t = cpuSeconds(t0);
    if (valid !== lines.length) throw new Error(`floor: ${lines.length - valid} invalid documents`);
    return t;
  };
  const combine = async (validate: boolean): Promise<number> => {
    const c = new Combiner({
      registry,
      collection: COLLECTION,
      validate,
      memoryBudgetBytes: 256 * 1024 * 1024,
      ownsDocuments: true, // freshly parsed below, as in `sluice combine`
    });
    const t0 = process.cpuUsage();
    // As `sluice combine` does: parse a batch of lines, then add it.
    const batch: Json[] = [];
    for (const l of lines) {
      batch.push(JSON.parse(l) as Json);
      if (batch.length === BATCH) {
        c.addMany(batch);
        batch.length = 0;
      }
    }
    c.addMany(batch);
    let out = 0;
    for await (const _ of c.drain(true)) out++;
    const t = cpuSeconds(t0);
    if (out === 0 || out > KEYS) throw new Error(`combine: ${out} keys out`);
    return t;
  };

  // Where the time goes: each step alone, on documents parsed beforehand (outside the timing). The
  // reducer runs as the combiner's does: in place (ownsLhs) on fresh documents, one lhs per key.
  const parsed = lines.map((l) => JSON.parse(l) as Json);
  const reducer = new Reducer(registry, SCHEMA_URI);
  const owns = { ownsLhs: true } as const;
  const steps: Record<'parse' | 'validate' | 'reduce', () => () => void> = {
    parse: () => () => {
      for (const l of lines) JSON.parse(l);
    },
    validate: () => () => {
      for (const d of parsed) validator.isValid(d);
    },
    reduce: () => {
      const fresh = lines.map((l) => JSON.parse(l) as Json);
      return () => {
        const byKey = new Map<Json | undefined, Json>();
        for (const d of fresh) {
          const k = (d as JsonObject).id;
          const lhs = byKey.get(k);
          byKey.set(k, lhs === undefined ? d : reducer.reduce(lhs, d, false, owns)!);
        }
      };
    },
  };
  const step = (prepare: () => () => void): number => {
    const fn = prepare();
    const t0 = process.cpuUsage();
    fn();
    return cpuSeconds(t0);
  };

  // Warm up (JIT, compiled validators).
  floor();
  await combine(true);
  const tf: number[] = [];
  const tc: number[] = [];
  const tn: number[] = [];
  const ts: Record<keyof typeof steps, number[]> = { parse: [], validate: [], reduce: [] };
  for (let r = 0; r < ROUNDS; r++) {
    tf.push(floor());
    tc.push(await combine(true));
    tn.push(await combine(false));
    for (const k of Object.keys(steps) as (keyof typeof steps)[]) ts[k].push(step(steps[k]));
  }
  const f = median(tf);
  const c = median(tc);
  const n = median(tn);
  const row = (name: string, t: number) =>
    `${name.padEnd(44)} ${Math.round(DOCS / t)
      .toLocaleString('en-US')
      .padStart(10)} docs/s ${(bytes / t / 1e6).toFixed(1).padStart(7)} MB/s`;
  console.log(
    `${DOCS.toLocaleString('en-US')} docs (${(bytes / DOCS).toFixed(0)} B avg), ${KEYS.toLocaleString('en-US')} keys, median CPU time of ${ROUNDS} rounds`,
  );
  console.log(row('floor: JSON.parse + ajv validate', f));
  console.log(row(`combine: parse + addMany(${BATCH}) + drain(full)`, c));
  console.log(row('combine without validation', n));
  const us = (t: number) => `${((t / DOCS) * 1e6).toFixed(2)} µs`;
  const [p, v, rd] = [median(ts.parse), median(ts.validate), median(ts.reduce)];
  console.log(
    `per document: parse ${us(p)}, validate ${us(v)} (floor ${us(f)}); reducer alone (in place) ${us(rd)}; ` +
      `combine ${us(c)}, of which keys, map, size, drain and GC ≈ ${us(Math.max(0, c - p - v - rd))}`,
  );
  const ratio = f / c;
  console.log(
    `ratio combine / floor: ${(ratio * 100).toFixed(0)} % (target >= 50 %) ${ratio >= 0.5 ? 'OK' : 'BELOW TARGET'}`,
  );
}

interface MemoryProbe {
  docs: number;
  keys: number;
  maxRuns: number;
  /** RSS and live heap after setup, before the first document. */
  baseRss: number;
  baseHeap: number;
  /** Peak RSS of the process (getrusage). */
  peakRss: number;
  /** Largest heapUsed right after a forced GC (live data), sampled every 10k documents and during the drain. */
  peakLiveHeap: number;
  seconds: number;
}

const PROBE_HEAP_CAP_MIB = 128;

/** Child-process body: combine `docs` documents (one key per two documents) within `budgetMiB`. */
async function memoryProbe(docs: number, budgetMiB: number): Promise<MemoryProbe> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the memory probe needs --expose-gc');
  const registry = new SchemaRegistry({ [SCHEMA_URI]: SCHEMA });
  const c = new Combiner({
    registry,
    collection: COLLECTION,
    memoryBudgetBytes: budgetMiB * 1024 * 1024,
    ownsDocuments: true, // each document parsed just before it is added, as in `sluice combine`
  });
  const rand = prng(7);
  const distinct = Math.max(1, docs >> 1);
  gc();
  const base = process.memoryUsage();
  let peakLiveHeap = 0;
  let maxRuns = 0;
  const sample = () => {
    gc();
    peakLiveHeap = Math.max(peakLiveHeap, process.memoryUsage().heapUsed);
    maxRuns = Math.max(maxRuns, c.stats().spilledRuns);
  };
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= docs; i++) {
    c.add(JSON.parse(line(rand, Math.floor(rand() * distinct))) as Json);
    if (i % 10_000 === 0) sample();
  }
  let keys = 0;
  for await (const _ of c.drain(true)) if (++keys % 10_000 === 0) sample();
  sample();
  return {
    docs,
    keys,
    maxRuns,
    baseRss: base.rss,
    baseHeap: base.heapUsed,
    peakRss: process.resourceUsage().maxRSS * 1024,
    peakLiveHeap,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
}

function memory(): void {
  const budget = 32;
  const n = 100_000;
  console.log(
    `\nmemory: budget ${budget} MiB, one key per two documents, each size in a fresh process ` +
      `with V8's heap capped at ${PROBE_HEAP_CAP_MIB} MiB (it would fail if memory grew with the input):`,
  );
  for (const docs of [n, 10 * n]) {
    const child = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        `--max-old-space-size=${PROBE_HEAP_CAP_MIB}`,
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        '--memory-probe',
        String(docs),
        String(budget),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (child.status !== 0) throw new Error(`memory probe (${docs} docs) failed: ${child.stderr}`);
    const p = JSON.parse(child.stdout.trim().split('\n').pop()!) as MemoryProbe;
    console.log(
      `${p.docs.toLocaleString('en-US').padStart(10)} docs -> ${p.keys.toLocaleString('en-US').padStart(8)} keys, ` +
        `up to ${p.maxRuns} runs; RSS ${mib(p.baseRss)} at start, peak ${mib(p.peakRss)}; ` +
        `live heap ${mib(p.baseHeap)} at start, peak ${mib(p.peakLiveHeap)} ` +
        `(bound: start + budget = ${mib(p.baseHeap + budget * 1024 * 1024)}); ` +
        `${Math.round(p.docs / p.seconds).toLocaleString('en-US')} docs/s (wall, with spilling)`,
    );
  }
}

export async function run(): Promise<void> {
  await throughput();
  if (process.env.SLUICE_BENCH_NO_MEMORY !== '1') memory();
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--memory-probe') {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const probe = await memoryProbe(Number(process.argv[3]), Number(process.argv[4]));
  console.log(JSON.stringify(probe));
}
