/**
 * The local AWS: kinesalite (Kinesis), dynalite (DynamoDB) and s3rver (S3), each in its own child
 * process (the emulators' work then runs beside the runner's, not in its event loop; s3rver also
 * needs --openssl-legacy-provider), all on 127.0.0.1, ports ephemeral (0) or given. With `dataDir`
 * their data persists under `<dataDir>/{kinesis,dynamodb,s3}` and survives restarts; without it
 * Kinesis and DynamoDB live in memory and S3 in a temporary directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SluiceError } from '../errors.ts';

export interface EmulatorOptions {
  dataDir?: string;
  ports?: { kinesis?: number; dynamodb?: number; s3?: number };
}

/** An S3 event notification record as s3rver emits it (`eventName` e.g. `ObjectCreated:Put`). */
export interface S3EventRecord {
  eventName: string;
  eventTime: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer?: string } };
}

export interface Emulators {
  endpoints: { kinesis: string; dynamodb: string; s3: string };
  /** Subscribe to S3 object events (key URL-encoded, as in S3 notifications); returns an unsubscribe. */
  onS3Event(listener: (r: S3EventRecord) => void): () => void;
  ports: { kinesis: number; dynamodb: number; s3: number };
  stop(): Promise<void>;
}

export class EmulatorError extends SluiceError {
  readonly code = 'EmulatorStartFailed';
  constructor(
    readonly emulator: string,
    detail: string,
  ) {
    super(`could not start the ${emulator} emulator: ${detail}`);
    this.name = 'EmulatorError';
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** Starts one emulator child (s3rver-child.cjs or emulator-child.cjs); resolves its port once it listens. */
async function startChild(
  name: string,
  args: string[],
  onLine: (line: string) => void = () => {},
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const lines = createInterface({ input: child.stdout! });
  const got = await new Promise<number>((res, rej) => {
    lines.once('line', (l) => {
      try {
        res((JSON.parse(l) as { port: number }).port);
      } catch {
        rej(new EmulatorError(name, `unexpected output ${l}`));
      }
    });
    child.once('exit', (code) => rej(new EmulatorError(name, `exited with ${code}: ${stderr.trim()}`)));
  });
  lines.on('line', onLine);
  return { port: got, child };
}

/** Closes a child's stdin (it closes its server and exits) and waits for it; kills it after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => {
    // Already gone: exited, or killed by a signal (Ctrl-C reaches the whole process group), when
    // exitCode stays null and 'exit' has fired already.
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function startS3(directory: string, port: number, onEvent: (r: S3EventRecord) => void) {
  return startChild(
    's3',
    ['--openssl-legacy-provider', join(HERE, 's3rver-child.cjs'), directory, String(port)],
    (l) => {
      try {
        const m = JSON.parse(l) as { event?: S3EventRecord };
        if (m.event) onEvent(m.event);
      } catch {
        // not an event line
      }
    },
  );
}

function startEmulator(name: 'kinesalite' | 'dynalite', port: number, options: Record<string, unknown>) {
  return startChild(name === 'kinesalite' ? 'kinesis' : 'dynamodb', [
    join(HERE, 'emulator-child.cjs'),
    name,
    String(port),
    JSON.stringify(options),
  ]);
}

export async function startEmulators(opts: EmulatorOptions = {}): Promise<Emulators> {
  const data = opts.dataDir ? resolve(opts.dataDir) : undefined;
  const dir = (name: string) => {
    if (!data) return undefined;
    const d = join(data, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const s3Listeners = new Set<(r: S3EventRecord) => void>();
  // Without a data folder, S3's objects go to a temp folder of this run, removed when it stops.
  const s3temp = data ? undefined : mkdtempSync(join(tmpdir(), 'sluice-s3-'));
  const s3dir = dir('s3') ?? (s3temp as string);
  const removeTemp = () => {
    if (s3temp) rmSync(s3temp, { recursive: true, force: true });
  };
  const started = await Promise.allSettled([
    startEmulator('kinesalite', opts.ports?.kinesis ?? 0, {
      path: dir('kinesis'),
      createStreamMs: 0,
      deleteStreamMs: 0,
      updateStreamMs: 0,
      shardLimit: 1000,
    }),
    startEmulator('dynalite', opts.ports?.dynamodb ?? 0, {
      path: dir('dynamodb'),
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
    }),
    startS3(s3dir, opts.ports?.s3 ?? 0, (r) => {
      for (const l of s3Listeners) l(r);
    }),
  ]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    // Stop the ones that did start (a port taken makes one fail), then report the failure.
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? stopChild(r.value.child) : undefined)));
    removeTemp();
    throw (failed as PromiseRejectedResult).reason;
  }
  const [kin, ddb, s3] = started.map(
    (r) => (r as PromiseFulfilledResult<{ port: number; child: ChildProcess }>).value,
  );
  const ports = { kinesis: kin.port, dynamodb: ddb.port, s3: s3.port };
  let stopped = false;
  return {
    ports,
    endpoints: {
      kinesis: `http://127.0.0.1:${kin.port}`,
      dynamodb: `http://127.0.0.1:${ddb.port}`,
      s3: `http://127.0.0.1:${s3.port}`,
    },
    onS3Event(listener) {
      s3Listeners.add(listener);
      return () => s3Listeners.delete(listener);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all([stopChild(kin.child), stopChild(ddb.child), stopChild(s3.child)]);
      removeTemp();
    },
  };
}
