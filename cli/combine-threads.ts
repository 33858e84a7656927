/**
 * How many shards `sluice combine` runs, and their worker threads (cli/combine-worker.ts), started
 * as soon as the command is parsed (cli/main.ts): each worker's start-up (a Node environment and its
 * modules, ≈ 130 ms) then overlaps the main thread's own (its modules and the catalog) instead of
 * following it. This module imports nothing of Sluice's for that reason. A worker waits for its
 * setup message (cli/combine-sharded.ts); until then it is unreferenced, so that a command ending
 * before it uses them (bad usage, a catalog error, a key that is not shardable) exits at once.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Shards (worker threads) to combine with: `SLUICE_COMBINE_THREADS`, else one per core (at most 8).
 * One means the single-threaded path. Sharding costs ≈ 30 % more CPU in all (routing on the main
 * thread, a JIT, a heap and a start-up per worker), which one core per shard more than repays on an
 * idle machine (2 cores: 0.89–0.93× the floor against 0.75–0.77× for one thread, bench/combine-million.ts),
 * and still on a busy one: the scheduler shares the cores out by runnable thread, so against one
 * busy neighbour thread two shards get 4/3 of a core where one thread gets one, and more against
 * more. The load average is not a guide: it counts the neighbours' threads and this command's own
 * recent runs alike (back-to-back runs of two shards alone keep it near 2 on 2 cores).
 */
export function threadCount(): number {
  const env = Number(process.env.SLUICE_COMBINE_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, 64);
  return Math.max(1, Math.min(availableParallelism(), 8));
}

/** A worker started ahead of its use, and how it failed meanwhile, if it did. */
export interface StartedWorker {
  worker: Worker;
  failure: Error | undefined;
}

/**
 * The worker module next to this one: compiled JavaScript, or from the sources TypeScript through
 * tsx, registered inside the worker by a small bootstrap module (Node 20 does not apply `--import`
 * hooks given in a worker's execArgv to its entry module).
 */
function workerModule(): URL {
  if (import.meta.url.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./combine-worker.ts', import.meta.url).href;
    const code = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(entry)});`;
    return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
  }
  return new URL('./combine-worker.js', import.meta.url);
}

export function startWorkers(count: number): StartedWorker[] {
  const url = workerModule();
  return Array.from({ length: count }, () => {
    // Not the process's own Node options (a worker inherits them): `--input-type` or `--eval`, say,
    // when the command runs inside another script (bench/combine-million.ts), fail a worker's start.
    const started: StartedWorker = { worker: new Worker(url, { execArgv: [] }), failure: undefined };
    started.worker.unref();
    started.worker.on('error', (e) => {
      started.failure = e;
    });
    return started;
  });
}
