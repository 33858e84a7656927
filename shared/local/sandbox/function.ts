/**
 * A Lambda function of the assembly, run as Lambda runs it: each warm instance is its own process
 * (bootstrap.mjs) with cwd = the asset folder, LAMBDA_TASK_ROOT set, the template's environment and
 * nothing of ours, module resolution limited to the AWS SDK v3, the memory size as the heap limit and
 * the timeout enforced (the instance is killed, as Lambda does). An instance serves one invocation at
 * a time; more concurrent invocations start more instances, up to the reserved concurrency (or the
 * local cap). An init error fails that invocation and the instance; the next invocation starts a
 * fresh one, so a transient init failure does not poison the function.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SluiceError } from '../../errors.ts';
import type { FunctionResource } from '../assembly/template.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BOOTSTRAP = join(HERE, 'bootstrap.mjs');
/** A file next to the project's node_modules: where the sandbox resolves `@aws-sdk/*` from. */
const SDK_PARENT = join(HERE, '..', '..', '..', 'package.json');

/** What Lambda reports for a failed invocation (`errorType`, `errorMessage`). */
export class FunctionError extends SluiceError {
  readonly code = 'FunctionError';
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    readonly errorMessage: string,
    readonly phase: 'init' | 'invoke' | 'timeout' | 'crash',
  ) {
    super(`${functionName}: ${errorType}: ${errorMessage}`);
    this.name = errorType;
  }
}

interface Instance {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  dead: boolean;
  pending?: { id: string; resolve: (v: unknown) => void; reject: (e: Error) => void };
}

export interface FunctionLogLine {
  functionName: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface SandboxOptions {
  /** Environment added to the template's (AWS endpoints and credentials of the function's proxy). */
  env: Record<string, string>;
  /** Warm instances at most (reserved concurrency wins when lower). Default 2. */
  maxInstances?: number;
  /** Every line the function writes (logs, EMF metrics). */
  onLog?: (l: FunctionLogLine) => void;
}

export interface FunctionStats {
  invocations: number;
  errors: number;
  initErrors: number;
  timeouts: number;
  coldStarts: number;
  durationMs: number;
  /** Invocations started and not yet finished (waiting for an instance included). */
  running: number;
}

export class SandboxedFunction {
  private readonly instances: Instance[] = [];
  private readonly waiting: (() => void)[] = [];
  private stopped = false;
  readonly stats: FunctionStats = {
    invocations: 0,
    errors: 0,
    initErrors: 0,
    timeouts: 0,
    coldStarts: 0,
    durationMs: 0,
    running: 0,
  };
  lastError: FunctionError | undefined;

  constructor(
    readonly fn: FunctionResource,
    private readonly opts: SandboxOptions,
  ) {}

  get name(): string {
    return this.fn.name;
  }

  private get cap(): number {
    const local = this.opts.maxInstances ?? 2;
    return Math.max(1, Math.min(local, this.fn.reservedConcurrency ?? local));
  }

  /** The environment Lambda gives the function: the template's, with /var/task meaning the asset folder. */
  environment(): Record<string, string> {
    const root = this.fn.assetDir;
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      LAMBDA_TASK_ROOT: root,
      LAMBDA_RUNTIME_DIR: HERE,
      AWS_LAMBDA_FUNCTION_NAME: this.fn.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.fn.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.fn.name}`,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...this.opts.env,
    };
    for (const [k, v] of Object.entries(this.fn.environment)) env[k] = v.replaceAll('/var/task', root);
    return env;
  }

  private spawn(): Instance {
    this.stats.coldStarts++;
    const child = fork(BOOTSTRAP, [this.fn.handler, SDK_PARENT], {
      cwd: this.fn.assetDir,
      env: this.environment(),
      execArgv: [`--max-old-space-size=${Math.max(64, this.fn.memoryMb)}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const rl = createInterface({ input: child[stream]! });
      rl.on('line', (line) => this.opts.onLog?.({ functionName: this.fn.name, stream, line }));
    }
    const inst: Instance = { child, busy: false, dead: false, ready: Promise.resolve() };
    inst.ready = new Promise<void>((ok, fail) => {
      child.on(
        'message',
        (m: { type: string; id?: string; result?: unknown; error?: Record<string, string> }) => {
          if (m.type === 'ready') ok();
          else if (m.type === 'init-error') {
            this.stats.initErrors++;
            fail(new FunctionError(this.fn.name, m.error!.errorType, m.error!.errorMessage, 'init'));
          } else if (m.type === 'result' && inst.pending && inst.pending.id === m.id)
            inst.pending.resolve(m.result);
          else if (m.type === 'error' && inst.pending && inst.pending.id === m.id)
            inst.pending.reject(
              new FunctionError(this.fn.name, m.error!.errorType, m.error!.errorMessage, 'invoke'),
            );
        },
      );
      // IPC errors (EPIPE after the instance died) surface through 'exit' and the send callback.
      child.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        inst.dead = true;
        const err = new FunctionError(
          this.fn.name,
          'Runtime.ExitError',
          `RequestId: local Error: Runtime exited ${signal ? `with signal: ${signal}` : `with error: exit status ${code}`}`,
          'crash',
        );
        fail(err);
        inst.pending?.reject(err);
        const i = this.instances.indexOf(inst);
        if (i >= 0) this.instances.splice(i, 1);
        this.waiting.shift()?.();
      });
    });
    inst.ready.catch(() => undefined);
    this.instances.push(inst);
    return inst;
  }

  private async acquire(): Promise<Instance> {
    for (;;) {
      if (this.stopped)
        throw new FunctionError(this.fn.name, 'Sluice.Stopped', 'the local stack is stopping', 'crash');
      const idle = this.instances.find((i) => !i.busy && !i.dead);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.instances.length < this.cap) {
        const inst = this.spawn();
        inst.busy = true;
        return inst;
      }
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }

  private release(inst: Instance): void {
    inst.busy = false;
    this.waiting.shift()?.();
  }

  /**
   * Start instances up to `n` (the concurrency cap at most) and wait for their init phase, as Lambda's
   * provisioned concurrency does: a benchmark's measured window then holds no cold start (one shard per
   * concurrent invocation, so a stream of two shards keeps two instances of each of its functions warm).
   * An instance whose init fails is gone; its error surfaces on the next invocation, as usual.
   */
  async prewarm(n = this.cap): Promise<void> {
    const want = Math.min(n, this.cap);
    while (!this.stopped && this.instances.filter((i) => !i.dead).length < want) this.spawn();
    await Promise.all(this.instances.map((i) => i.ready.catch(() => undefined)));
  }

  /** Invoke the function with an event; resolves with its result or rejects with a FunctionError. */
  async invoke(event: unknown): Promise<unknown> {
    this.stats.running++;
    try {
      return await this.invokeOn(await this.acquire(), event);
    } finally {
      this.stats.running--;
    }
  }

  private async invokeOn(inst: Instance, event: unknown): Promise<unknown> {
    const started = Date.now();
    this.stats.invocations++;
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = Date.now() + timeoutMs;
      const run = (async () => {
        await inst.ready;
        const id = randomUUID();
        return new Promise<unknown>((resolve, reject) => {
          inst.pending = { id, resolve, reject };
          // The instance may die between ready and this send (a Ctrl-C reaches the whole process group):
          // the send fails with EPIPE, which must reject this invocation, not crash sluice dev.
          inst.child.send(
            { type: 'invoke', id, event, deadline, requestId: id, functionArn: this.fn.arn },
            (err) => {
              if (err)
                reject(
                  new FunctionError(
                    this.fn.name,
                    'Runtime.ExitError',
                    `instance gone: ${err.message}`,
                    'crash',
                  ),
                );
            },
          );
        });
      })();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          this.stats.timeouts++;
          // Lambda stops a timed-out instance; its next invocation is a cold start.
          inst.child.kill('SIGKILL');
          reject(
            new FunctionError(
              this.fn.name,
              'Sandbox.Timedout',
              `Task timed out after ${this.fn.timeoutSeconds.toFixed(2)} seconds`,
              'timeout',
            ),
          );
        }, timeoutMs);
      });
      return await Promise.race([run, timeout]);
    } catch (e) {
      this.stats.errors++;
      const err =
        e instanceof FunctionError
          ? e
          : new FunctionError(this.fn.name, 'Error', e instanceof Error ? e.message : String(e), 'invoke');
      this.lastError = err;
      if (err.phase === 'init' && !inst.dead) inst.child.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
      inst.pending = undefined;
      this.stats.durationMs += Date.now() - started;
      this.release(inst);
    }
  }

  /** Kill every instance (the equivalent of replacing the function's code: the next invocation cold-starts). */
  async recycle(): Promise<void> {
    await Promise.all(this.instances.map((i) => kill(i)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiting.splice(0)) w();
    await Promise.all(this.instances.map((i) => kill(i)));
  }
}

function kill(i: Instance): Promise<void> {
  if (i.dead) return Promise.resolve();
  return new Promise<void>((r) => {
    i.child.once('exit', () => r());
    i.child.kill('SIGKILL');
  });
}
