/**
 * `sluice combine` over worker threads, one Combiner per shard of the keys. The main thread only
 * reads stdin into blocks of shared memory, splits them into lines and routes each by a scan of its
 * key (shared/combine/route.ts), so every document of a key goes to one shard, in input
 * order: each key is folded exactly as the single-threaded combiner folds it (same results,
 * floating-point sums included). Parsing, validation and reduction, the costly part, run in
 * parallel. At the end the shards' outputs, each in key order and with disjoint keys, are merged by
 * packed key: the same order as one combiner's.
 *
 * Each block goes to every shard as it is (shared, not copied) with the positions and numbers of
 * that shard's lines in it: no copy of each line and no JavaScript array per line, which is what the
 * main thread spent its time on when it copied each line into a batch per shard.
 *
 * Errors are those of the single-threaded path: each shard stops at its first bad line and the
 * earliest line over all shards is reported (a bad line's verdict depends only on its own key's
 * documents, which that shard saw in order). Memory: the budget is split between the shards (each
 * spills on its own), and at most IN_FLIGHT blocks of input wait per shard.
 */
import { isAscii } from 'node:buffer';
import type { Worker } from 'node:worker_threads';
import { KeyRouter } from '../shared/combine/route.ts';
import type { CombineIo } from './combine.ts';
import {
  type FromWorker,
  type InputProblem,
  InputReader,
  isBrokenPipe,
  splitLinesText,
  type ToWorker,
  type WorkerSetup,
  write,
} from './combine-input.ts';
import type { StartedWorker } from './combine-threads.ts';

/** Atomics.waitAsync (ES2024: Node 20 has it, TypeScript's ES2023 library does not declare it). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
      timeoutMs: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/** Bytes of input per block (a block grows to hold a longer line). */
const BLOCK_BYTES = 512 * 1024;
/**
 * The first block's size; the next ones double up to BLOCK_BYTES. The shards wait for the first
 * block to fill: a small one starts them ≈ 15 ms sooner than a full one would.
 */
const FIRST_BLOCK_BYTES = 64 * 1024;
/** Blocks handed to a shard and not yet processed before reading more input (until half are done). */
const IN_FLIGHT = 8;
const OUTPUT_CHUNK = 64 * 1024;
const LF = 0x0a;
const CR = 0x0d;

export interface ShardedOptions {
  /** The key's only pointer token: a top-level property. */
  property: string;
  /** For each worker; memoryBudgetBytes is already its share. */
  setup: WorkerSetup;
}

/** One shard's lines in the current block: (start, end, line number) triples, growing as needed. */
class LineIndex {
  private triples = new Float64Array(3 * 1024);
  count = 0;

  add(start: number, end: number, lineNo: number): void {
    const i = 3 * this.count;
    if (i + 3 > this.triples.length) {
      const grown = new Float64Array(this.triples.length * 2);
      grown.set(this.triples);
      this.triples = grown;
    }
    const t = this.triples;
    t[i] = start;
    t[i + 1] = end;
    t[i + 2] = lineNo;
    this.count++;
  }

  /** The triples added since the last take (a copy, to transfer). */
  take(): Float64Array {
    const out = this.triples.slice(0, 3 * this.count);
    this.count = 0;
    return out;
  }
}

/**
 * Blocks of BLOCK_BYTES are reused once every shard given one has processed it: a fresh shared
 * buffer per block cost the main thread a page fault and zeroing for every 4 KiB of input.
 */
class BlockPool {
  private readonly free: SharedArrayBuffer[] = [];
  /** Shards yet to process each block handed over. */
  private readonly users = new Map<SharedArrayBuffer, number>();

  get(size: number): SharedArrayBuffer {
    return (size === BLOCK_BYTES ? this.free.pop() : undefined) ?? new SharedArrayBuffer(size);
  }

  handedTo(block: SharedArrayBuffer, shards: number): void {
    if (shards > 0) this.users.set(block, shards);
    else this.recycle(block);
  }

  done(block: SharedArrayBuffer): void {
    const left = this.users.get(block)! - 1;
    if (left > 0) this.users.set(block, left);
    else {
      this.users.delete(block);
      this.recycle(block);
    }
  }

  private recycle(block: SharedArrayBuffer): void {
    if (block.byteLength === BLOCK_BYTES) this.free.push(block);
  }
}

class Shard {
  readonly worker: Worker;
  readonly lines = new LineIndex();
  /** Blocks handed to the worker and not yet processed, oldest first. */
  private readonly inFlightBlocks: SharedArrayBuffer[] = [];
  /**
   * [0]: how many blocks the worker has processed; [1]: the count at which it wakes the main thread.
   * Counted in shared memory rather than acknowledged by a message per block, and waited on only
   * when IN_FLIGHT blocks are out, until half of them are done: a message per block woke the main
   * thread for every block (a context switch on cores the shards keep busy).
   */
  private readonly progress = new Int32Array(new SharedArrayBuffer(8));
  /** Blocks of inFlightBlocks already returned to the pool (≤ progress). */
  private released = 0;
  /** Settles when the worker answers `end` (undefined: ok). */
  result: Promise<InputProblem | undefined>;
  problem: InputProblem | undefined;
  private settle!: (p: InputProblem | undefined) => void;
  private crashed: ((e: Error) => void) | undefined;
  /** Output chunks received and not yet merged; `null` marks the end. */
  private chunks: ({ keys: string[]; texts: string[] } | { error: string; key: string } | null)[] = [];
  private chunkWaiter: (() => void) | undefined;
  private failure: Error | undefined;
  private closed: (() => void) | undefined;
  /** The worker's termination, once started (see `outEnd`). */
  private stopping: Promise<number> | undefined;

  constructor(
    started: StartedWorker,
    setup: WorkerSetup,
    private readonly pool: BlockPool,
  ) {
    this.worker = started.worker;
    this.worker.ref();
    this.result = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.crashed = reject;
    });
    this.result.catch(() => {}); // a failure is also thrown where the result is awaited
    const fail = (e: Error) => {
      this.failure = e;
      this.crashed?.(e);
      this.chunkWaiter?.();
    };
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', fail);
    if (started.failure !== undefined) fail(started.failure);
    else this.post({ t: 'setup', setup, progress: this.progress.buffer as SharedArrayBuffer });
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'problem':
        this.problem = m.problem;
        this.settle(m.problem);
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
        // Its output is all here and its drain removed its spill files: nothing is left for the
        // worker to do, so it is stopped now, its heap torn down while the merge goes on.
        this.stopping = this.worker.terminate();
        break;
      case 'closed':
        this.closed?.();
        return;
    }
    this.chunkWaiter?.();
    this.chunkWaiter = undefined;
  }

  /** Lets the worker remove its spill files, then stops it. */
  async close(): Promise<void> {
    if (this.stopping !== undefined) {
      await this.stopping;
      return;
    }
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

  /** Hands the shard a block and its lines in it, if it has any; says whether it had. */
  input(bytes: SharedArrayBuffer, length: number, ascii: boolean): boolean {
    this.collect();
    if (this.lines.count === 0) return false;
    const lines = this.lines.take();
    this.inFlightBlocks.push(bytes);
    this.post({ t: 'input', bytes, length, ascii, lines }, [lines.buffer as ArrayBuffer]);
    return true;
  }

  /** Returns the blocks the worker has processed since the last call to the pool. */
  private collect(): void {
    const done = Atomics.load(this.progress, 0);
    for (; this.released < done; this.released++) this.pool.done(this.inFlightBlocks.shift()!);
  }

  /**
   * Resolves at once if fewer than `limit` blocks are in flight, else once no more than half of
   * them are (or the shard has stopped or failed).
   */
  async below(limit: number): Promise<void> {
    const half = limit >> 1;
    for (let bound = limit; ; bound = half + 1) {
      this.collect();
      if (this.inFlightBlocks.length < bound || this.problem !== undefined || this.failure !== undefined)
        return;
      Atomics.store(this.progress, 1, this.released + this.inFlightBlocks.length - half);
      // Returns at once if the count moved meanwhile; the timeout rechecks a worker that failed.
      const wait = waitAsync(this.progress, 0, this.released, 100);
      if (wait.async) await wait.value;
    }
  }

  /**
   * The next output chunk, or null at the end. The worker sends chunks ahead, a few at most: each
   * chunk taken here lets it send one more (`more`).
   */
  async nextChunk(): Promise<{ keys: string[]; texts: string[] } | { error: string; key: string } | null> {
    if (this.failure !== undefined) throw this.failure;
    if (this.chunks.length === 0) {
      await new Promise<void>((r) => {
        this.chunkWaiter = r;
      });
    }
    if (this.failure !== undefined) throw this.failure;
    const chunk = this.chunks.shift()!;
    if (chunk !== null && 'keys' in chunk) this.post({ t: 'more' });
    return chunk;
  }
}

/** Combines stdin into stdout with `workers` (from startWorkers), one shard each. */
export async function combineSharded(
  io: CombineIo,
  opts: ShardedOptions,
  workers: StartedWorker[],
): Promise<number> {
  const router = new KeyRouter(opts.property, workers.length);
  const pool = new BlockPool();
  const shards = workers.map((w) => new Shard(w, opts.setup, pool));
  try {
    const problem = await feed(io, router, shards, pool);
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
async function feed(
  io: CombineIo,
  router: KeyRouter,
  shards: Shard[],
  pool: BlockPool,
): Promise<InputProblem | undefined> {
  const stopped = () => shards.some((s) => s.problem !== undefined);
  const input = new InputReader(io.stdin);
  let block = Buffer.from(pool.get(FIRST_BLOCK_BYTES));
  /** Bytes in the block; where its first line not yet routed starts. */
  let length = 0;
  let routed = 0;
  let lineNo = 0;
  /**
   * Routes the complete lines of block[routed, length) (all of them at the end of the input): as
   * latin1 text, which KeyRouter and splitLinesText search faster than the bytes.
   */
  const route = (eof: boolean) => {
    const base = routed;
    const text = block.toString('latin1', base, length);
    router.setText(text, block, base, length);
    routed =
      base +
      splitLinesText(text, 0, text.length, eof, (start, end) => {
        shards[router.shardOfLine(start, end)].lines.add(base + start, base + end, ++lineNo);
      });
  };
  /** Hands the block's routed lines over and moves its unfinished line to a new block of `size` bytes. */
  const handOver = (size: number) => {
    const sab = block.buffer as SharedArrayBuffer;
    // Checked once here rather than by every shard (see LineText).
    const ascii = isAscii(block.subarray(0, routed));
    let users = 0;
    for (const s of shards) if (s.input(sab, routed, ascii)) users++;
    pool.handedTo(sab, users);
    const next = Buffer.from(pool.get(size));
    block.copy(next, 0, routed, length);
    block = next;
    length -= routed;
    routed = 0;
  };
  try {
    for (;;) {
      if (length === block.length) {
        // Full: a new block, twice as large when one line fills this one, or while ramping up.
        handOver(routed === 0 || block.length < BLOCK_BYTES ? 2 * block.length : BLOCK_BYTES);
        for (const s of shards) await s.below(IN_FLIGHT);
        // Reading stdin's descriptor does not return to the event loop: let the workers' messages
        // (a problem, a crash) in once per block.
        await new Promise((resolve) => setImmediate(resolve));
        if (stopped()) break;
      }
      const read = input.read(block, length);
      const n = typeof read === 'number' ? read : await read;
      if (n === 0) break;
      const fresh = block.subarray(length, length + n);
      length += n;
      // Only when a line may have ended: a line longer than a read is decoded once, not once per read.
      if (fresh.indexOf(LF) >= 0 || fresh.indexOf(CR) >= 0) route(false);
    }
  } finally {
    input.close();
  }
  if (!stopped()) {
    route(true);
    handOver(0);
  }
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
