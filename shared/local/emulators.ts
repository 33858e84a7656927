/**
 * The local AWS: kinesalite (Kinesis), dynalite (DynamoDB) in-process, s3rver (S3) in a child process
 * (it needs --openssl-legacy-provider), all on 127.0.0.1, ports ephemeral (0) or given. With `dataDir`
 * their data persists under `<dataDir>/{kinesis,dynamodb,s3}` and survives restarts; without it
 * Kinesis and DynamoDB live in memory and S3 in a temporary directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
type ServerFactory = (opts: Record<string, unknown>) => Server;
const kinesalite = require('kinesalite') as ServerFactory;
const dynalite = require('dynalite') as ServerFactory;

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

export class EmulatorError extends Error {
  readonly code = 'EmulatorStartFailed';
  constructor(
    readonly emulator: string,
    detail: string,
  ) {
    super(`could not start the ${emulator} emulator: ${detail}`);
    this.name = 'EmulatorError';
  }
}

function listen(server: Server, port: number, name: string): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', (e) => rej(new EmulatorError(name, (e as Error).message)));
    server.listen(port, '127.0.0.1', () => res((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((res) => server.close(() => res()));
}

async function startS3(
  directory: string,
  port: number,
  onEvent: (r: S3EventRecord) => void,
): Promise<{ port: number; child: ChildProcess }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 's3rver-child.cjs');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, directory, String(port)], {
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
        rej(new EmulatorError('s3', `unexpected output ${l}`));
      }
    });
    child.once('exit', (code) => rej(new EmulatorError('s3', `exited with ${code}: ${stderr.trim()}`)));
  });
  lines.on('line', (l) => {
    try {
      const m = JSON.parse(l) as { event?: S3EventRecord };
      if (m.event) onEvent(m.event);
    } catch {
      // not an event line
    }
  });
  return { port: got, child };
}

export async function startEmulators(opts: EmulatorOptions = {}): Promise<Emulators> {
  const data = opts.dataDir ? resolve(opts.dataDir) : undefined;
  const dir = (name: string) => {
    if (!data) return undefined;
    const d = join(data, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const kin = kinesalite({
    path: dir('kinesis'),
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 1000,
  });
  const ddb = dynalite({ path: dir('dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const s3Listeners = new Set<(r: S3EventRecord) => void>();
  const s3dir = dir('s3') ?? mkdtempSync(join(tmpdir(), 'sluice-s3-'));
  const [kp, dp, s3] = await Promise.all([
    listen(kin, opts.ports?.kinesis ?? 0, 'kinesis'),
    listen(ddb, opts.ports?.dynamodb ?? 0, 'dynamodb'),
    startS3(s3dir, opts.ports?.s3 ?? 0, (r) => {
      for (const l of s3Listeners) l(r);
    }),
  ]);
  const ports = { kinesis: kp, dynamodb: dp, s3: s3.port };
  let stopped = false;
  return {
    ports,
    endpoints: {
      kinesis: `http://127.0.0.1:${kp}`,
      dynamodb: `http://127.0.0.1:${dp}`,
      s3: `http://127.0.0.1:${s3.port}`,
    },
    onS3Event(listener) {
      s3Listeners.add(listener);
      return () => s3Listeners.delete(listener);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const exited = new Promise<void>((r) => {
        // Already gone: exited, or killed by a signal (Ctrl-C reaches the whole process group), when
        // exitCode stays null and 'exit' has fired already.
        if (s3.child.exitCode !== null || s3.child.signalCode !== null) r();
        else s3.child.once('exit', () => r());
      });
      s3.child.stdin?.end();
      const timer = setTimeout(() => s3.child.kill('SIGKILL'), 3000);
      await Promise.all([close(kin), close(ddb), exited]);
      clearTimeout(timer);
    },
  };
}
