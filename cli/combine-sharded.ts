/**
 * `sluice combine` over worker threads, one Combiner per shard of the keys. The main thread only
 * splits stdin into lines and routes each by a byte scan of its key (shared/combine/route.ts), so
 * every document of a key goes to one shard, in input order: each key is folded exactly as the
 * single-threaded combiner folds it (same results, floating-point sums included). Parsing,
 * validation and reduction, the costly part, run in parallel. At the end the shards' outputs, each
 * in key order and with disjoint keys, are merged by packed key: the same order as one combiner's.
 *
 * Errors are those of the single-threaded path: each shard stops at its first bad line and the
 * earliest line over all shards is reported (a bad line's verdict depends only on its own key's
 * documents, which that shard saw in order). Memory: the budget is split between the shards (each
 * spills on its own), and at most IN_FLIGHT batches of input wait per shard.
 */
import { Worker } from 'node:worker_threads';
import { KeyRouter } from '../shared/combine/route.ts';
import type { CombineIo } from './combine.ts';
import {
  type FromWorker,
  type InputProblem,
  isBrokenPipe,
  readLines,
  type ToWorker,
  type WorkerSetup,
  write,
} from './combine-input.ts';

/** Bytes of lines sent to a shard at once. */
const BATCH_BYTES = 256 * 1024;
/** Batches sent to a shard and not yet processed before reading more input. */
const IN_FLIGHT = 4;
const OUTPUT_CHUNK = 64 * 1024;
const LF = 0x0a;

export interface ShardedOptions {
  /** The key's only pointer token: a top-level property. */
  property: string;
  threads: number;
  /** For each worker; memoryBudgetBytes is already its share. */
  setup: WorkerSetup;
}

/** Lines for one shard, each followed by '\n'. */
class Batch {
  bytes = Buffer.allocUnsafe(BATCH_BYTES + 4096);
  length = 0;
  lineNumbers: number[] = [];

  add(src: Buffer, start: number, end: number, lineNo: number): void {
    const need = this.length + (end - start) + 1;
    if (need > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    src.copy(this.bytes, this.length, start, end);
    this.bytes[need - 1] = LF;
    this.length = need;
    this.lineNumbers.push(lineNo);
  }
}

class Shard {
  readonly worker: Worker;
  batch = new Batch();
  inFlight = 0;
  /** Settles when the worker answers `end` (undefined: ok). */
  result: Promise<InputProblem | undefined>;
  problem: InputProblem | undefined;
  private settle!: (p: InputProblem | undefined) => void;
  private crashed: ((e: Error) => void) | undefined;
  private waiters: (() => void)[] = [];
  /** Output chunks received and not yet merged; `null` marks the end. */
  private chunks: ({ keys: string[]; texts: string[] } | { error: string; key: string } | null)[] = [];
  private chunkWaiter: (() => void) | undefined;
  private failure: Error | undefined;
  private closed: (() => void) | undefined;

  constructor(url: URL, execArgv: string[], setup: WorkerSetup) {
    this.worker = new Worker(url, { workerData: setup, execArgv });
    this.result = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.crashed = reject;
    });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (e) => {
      this.failure = e;
      this.crashed?.(e);
      this.wake();
      this.chunkWaiter?.();
    });
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'ack':
        this.inFlight--;
        this.wake();
        return;
      case 'problem':
        this.problem = m.problem;
        this.settle(m.problem);
        this.wake();
        return;
      case 'ok':
        this.settle(undefined);
        return;
      case 'out':
        this.chunks.push({ keys: m.keys, texts: m.texts });
        break;
      case 'drainError':
        this.chunks.push({ error: m.message, key: m.key });
        break;
      case 'outEnd':
        this.chunks.push(null);
        break;
      case 'closed':
        this.closed?.();
        return;
    }
    this.chunkWaiter?.();
    this.chunkWaiter = undefined;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Lets the worker remove its spill files, then stops it. */
  async close(): Promise<void> {
    if (this.failure === undefined) {
      const done = new Promise<void>((resolve) => {
        this.closed = resolve;
        this.worker.once('exit', () => resolve());
        setTimeout(resolve, 10_000).unref();
      });
      this.post({ t: 'close' });
      await done;
    }
    await this.worker.terminate();
  }

  post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  flush(): void {
    const b = this.batch;
    if (b.lineNumbers.length === 0) return;
    const bytes = new Uint8Array(b.bytes.buffer, b.bytes.byteOffset, b.length).slice().buffer;
    const lineNumbers = Float64Array.from(b.lineNumbers);
    this.inFlight++;
    this.post({ t: 'lines', bytes, length: b.length, lineNumbers }, [bytes, lineNumbers.buffer]);
    b.length = 0;
    b.lineNumbers = [];
  }

  /** Resolves once fewer than `limit` batches are in flight (or the shard has stopped at a problem). */
  async below(limit: number): Promise<void> {
    while (this.inFlight >= limit && this.problem === undefined) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** The next output chunk (requesting it from the worker), or null at the end. */
  async nextChunk(): Promise<{ keys: string[]; texts: string[] } | { error: string; key: string } | null> {
    if (this.failure !== undefined) throw this.failure;
    if (this.chunks.length === 0) {
      const arrived = new Promise<void>((r) => {
        this.chunkWaiter = r;
      });
      this.post({ t: 'more' });
      await arrived;
    }
    if (this.failure !== undefined) throw this.failure;
    return this.chunks.shift()!;
  }
}

/**
 * The worker module next to this one: compiled JavaScript, or from the sources TypeScript through
 * tsx, registered inside the worker by a small bootstrap module (Node 20 does not apply `--import`
 * hooks given in a worker's execArgv to its entry module).
 */
function workerModule(): { url: URL; execArgv: string[] } {
  if (import.meta.url.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./combine-worker.ts', import.meta.url).href;
    const code = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(entry)});`;
    return { url: new URL(`data:text/javascript,${encodeURIComponent(code)}`), execArgv: [] };
  }
  return { url: new URL('./combine-worker.js', import.meta.url), execArgv: [] };
}

export async function combineSharded(io: CombineIo, opts: ShardedOptions): Promise<number> {
  const router = new KeyRouter(opts.property, opts.threads);
  const { url, execArgv } = workerModule();
  const shards = Array.from({ length: opts.threads }, () => new Shard(url, execArgv, opts.setup));
  try {
    const problem = await feed(io, router, shards);
    if (problem !== undefined) {
      io.stderr.write(`${problem.message}\n`);
      return 1;
    }
    return await merge(io, shards);
  } finally {
    await Promise.all(shards.map((s) => s.close()));
  }
}

/** Reads stdin, routes each line to its shard; resolves the earliest input problem, if any. */
async function feed(io: CombineIo, router: KeyRouter, shards: Shard[]): Promise<InputProblem | undefined> {
  let lineNo = 0;
  const stopped = () => shards.some((s) => s.problem !== undefined);
  await readLines(
    io.stdin,
    (buf, start, end) => {
      const shard = shards[router.shardOf(buf, start, end)];
      shard.batch.add(buf, start, end, ++lineNo);
      if (shard.batch.length >= BATCH_BYTES) shard.flush();
    },
    async () => {
      for (const s of shards) await s.below(IN_FLIGHT);
      return stopped();
    },
  );
  for (const s of shards) s.flush();
  const drain = !stopped();
  for (const s of shards) s.post({ t: 'end', drain });
  const problems = (await Promise.all(shards.map((s) => s.result))).filter((p) => p !== undefined);
  if (problems.length === 0) return undefined;
  return problems.reduce((a, b) => (b.line < a.line ? b : a));
}

/** Merges the shards' key-ordered outputs (disjoint keys) into stdout. */
async function merge(io: CombineIo, shards: Shard[]): Promise<number> {
  // A reader that goes away (`| head`) ends the output quietly; errors come through write().
  io.stdout.on('error', () => {});
  interface Head {
    shard: Shard;
    chunk: { keys: string[]; texts: string[] } | { error: string; key: string };
    i: number;
  }
  const heads: Head[] = [];
  const advance = async (shard: Shard): Promise<void> => {
    for (;;) {
      const chunk = await shard.nextChunk();
      if (chunk === null) return;
      if ('keys' in chunk && chunk.keys.length === 0) continue;
      heads.push({ shard, chunk, i: 0 });
      return;
    }
  };
  await Promise.all(shards.map((s) => advance(s)));
  const keyOf = (h: Head) => ('keys' in h.chunk ? h.chunk.keys[h.i] : h.chunk.key);
  let out = '';
  try {
    while (heads.length > 0) {
      let m = 0;
      for (let j = 1; j < heads.length; j++) if (keyOf(heads[j]) < keyOf(heads[m])) m = j;
      const h = heads[m];
      if (!('keys' in h.chunk)) {
        if (out.length > 0) await write(io.stdout, out);
        for (const line of h.chunk.error.split('\n'))
          io.stderr.write(`sluice combine: while draining: ${line}\n`);
        return 1;
      }
      out += h.chunk.texts[h.i];
      if (out.length >= OUTPUT_CHUNK) {
        await write(io.stdout, out);
        out = '';
      }
      if (++h.i === h.chunk.keys.length) {
        heads.splice(m, 1);
        await advance(h.shard);
      }
    }
    if (out.length > 0) await write(io.stdout, out);
  } catch (e) {
    if (isBrokenPipe(e)) return 0;
    throw e;
  }
  return 0;
}
