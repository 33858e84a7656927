/**
 * The local runner behind `sluice dev`: starts the emulators (data under `dataDir`), provisions a stream
 * per collection, the state table and the fragments bucket, serves HTTP ingest, and drives the SAME
 * handler functions the Lambdas use (functions/*.ts `create*Handler`) through event-source-mapping
 * emulators: one per (derivation, source collection), per (materialization, bound collection), and a
 * persister per collection.
 *
 * `<dataDir>/endpoints.json` records the running emulators' endpoints so `sluice read` can use them.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createDeriveHandler } from '../../functions/derive.ts';
import { createIngestHandler, type IngestHandler } from '../../functions/ingest.ts';
import { createConnector, createMaterializeHandler } from '../../functions/materialize.ts';
import { createPersistHandler } from '../../functions/persist.ts';
import { type AwsClients, destroyClients, EMULATOR_CREDENTIALS, makeClients } from '../adapters/clients.ts';
import { DynamoStateStore } from '../adapters/dynamodb.ts';
import type { KinesisJournal } from '../adapters/kinesis.ts';
import type { S3BlobStore } from '../adapters/s3.ts';
import type { BuiltCatalog, CaptureSpec } from '../catalog/model.ts';
import { parseEnv, type SluiceEnv } from '../config/env.ts';
import { createRuntime, type Runtime } from '../config/runtime.ts';
import { runPollingCapture } from '../connectors/capture-runner.ts';
import { createPollingSource } from '../connectors/index.ts';
import type { PollingSource } from '../connectors/source.ts';
import { isObject } from '../json/types.ts';
import type { MaterializeConnector } from '../materialize/connector.ts';
import type { MaterializeTask } from '../materialize/task.ts';
import { fragmentPlace } from '../persist/task.ts';
import { type Emulators, startEmulators } from './emulators.ts';
import { type EsmEvent, EventSourceMapping, type KinesisHandler } from './esm.ts';

export interface RunnerOptions {
  catalog: BuiltCatalog;
  /** Emulator data directory (persists across restarts); undefined: in memory. */
  dataDir?: string;
  /** HTTP ingest port (0: ephemeral). */
  port?: number;
  /** Shards per collection stream (default 2). */
  shards?: number;
  batchSize?: number;
  batchWindowMs?: number;
  idlePollMs?: number;
  /** Reuse already running emulators instead of starting them (tests). */
  emulators?: Emulators;
  /** Resource name prefix (default `sluice`). */
  prefix?: string;
  /** Crash injection: called before each mapping checkpoint; throw a CrashError to die there. */
  beforeCheckpoint?: (task: string, collection: string, shardId: string) => void | Promise<void>;
  /** Crash injection inside the materialize task, after the destination write (before the checkpoint). */
  wrapConnector?: (materialization: string, c: MaterializeConnector) => MaterializeConnector;
  onEvent?: (task: string, e: EsmEvent) => void;
  journal?: { maxRecordBytes?: number; baseBackoffMs?: number };
  /** Extra SDK client setup (fault-injection middleware) before anything runs. */
  clients?: AwsClients;
  /** Persisters maintain each collection's reduced view (what `sluice read` returns); default true. */
  views?: boolean;
  /**
   * Polling captures (source-postgres-batch, source-s3) poll every capture's `interval` once `run()` is
   * called; this overrides it (ms). Default: the capture's interval, else 5 s.
   */
  pollIntervalMs?: number;
}

/** Connectors that the local runner drives on a timer (on AWS: an EventBridge schedule → functions/poll.ts). */
export const POLLING_CONNECTORS = new Set(['source-postgres-batch', 'source-s3']);

interface PollingCapture {
  name: string;
  spec: CaptureSpec;
  source: PollingSource;
  stats: { polls: number; docs: number; errors: number };
  lastError?: string;
  /** The poll in flight (polls of one capture never overlap, as reservedConcurrency 1 on AWS). */
  running?: Promise<void>;
  timer?: NodeJS.Timeout;
}

export interface TaskView {
  task: string;
  kind: 'capture' | 'derivation' | 'persist' | 'materialization';
  mappings: EventSourceMapping[];
  /** Documents accepted (captures). */
  docs?: () => number;
  /** Documents written out: appended (captures, derivations), stored keys (materializations), fragment docs (persisters). */
  out?: () => number;
  /** Input documents dropped as already processed (derivations: re-published by a replayed upstream). */
  skipped?: () => number;
}

export class LocalRunner {
  private server: Server | undefined;
  readonly tasks: TaskView[] = [];
  readonly mappings: EventSourceMapping[] = [];
  readonly materializations = new Map<string, MaterializeTask>();
  private ingest = new Map<string, IngestHandler>();
  readonly polling: PollingCapture[] = [];
  private ownsEmulators = false;
  ingestPort = 0;
  /** Mapping checkpoints: the same state table, not metered (on AWS the event-source mapping keeps them for free). */
  private checkpoints: DynamoStateStore;
  readonly httpStats = { requests: 0, ok: 0, errors: 0 };
  private stopped = false;

  private constructor(
    readonly opts: RunnerOptions,
    readonly emulators: Emulators,
    readonly env: SluiceEnv,
    readonly rt: Runtime,
  ) {
    this.checkpoints = new DynamoStateStore({ client: rt.clients.dynamodb, table: env.stateTable });
  }

  static async start(opts: RunnerOptions): Promise<LocalRunner> {
    const dataDir = opts.dataDir ? resolve(opts.dataDir) : undefined;
    const emulators = opts.emulators ?? (await startEmulators({ dataDir }));
    const env = parseEnv({
      SLUICE_PREFIX: opts.prefix ?? 'sluice',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_KINESIS: emulators.endpoints.kinesis,
      AWS_ENDPOINT_URL_DYNAMODB: emulators.endpoints.dynamodb,
      AWS_ENDPOINT_URL_S3: emulators.endpoints.s3,
    });
    const clients =
      opts.clients ??
      makeClients({
        region: env.region,
        endpoints: env.endpoints,
        credentials: EMULATOR_CREDENTIALS,
        maxAttempts: 2,
      });
    const rt = createRuntime(env, { catalog: opts.catalog, clients, journal: opts.journal });
    const runner = new LocalRunner(opts, emulators, env, rt);
    runner.ownsEmulators = !opts.emulators;
    try {
      await runner.provision();
      await runner.wire();
      if (dataDir) {
        mkdirSync(dataDir, { recursive: true });
        writeFileSync(
          join(dataDir, 'endpoints.json'),
          JSON.stringify({
            pid: process.pid,
            prefix: env.prefix,
            endpoints: emulators.endpoints,
            ingestPort: runner.ingestPort,
          }),
        );
      }
    } catch (e) {
      await runner.stop();
      throw e;
    }
    return runner;
  }

  /** Streams, the state table, the fragments buckets. Idempotent. */
  private async provision(): Promise<void> {
    const { catalog } = this.opts;
    const journal = this.rt.journal as KinesisJournal;
    for (const c of Object.keys(catalog.collections)) await journal.ensureStream(c, this.opts.shards ?? 2);
    await (this.rt.state as DynamoStateStore).ensureTable();
    const buckets = new Set(
      Object.keys(catalog.collections).map(
        (c) => fragmentPlace(catalog, c, { bucket: this.env.bucket, prefix: '' }).bucket,
      ),
    );
    // Buckets named in materialize-s3 / source-s3 configs exist on the emulator too.
    for (const t of [...Object.values(catalog.materializations), ...Object.values(catalog.captures)]) {
      const cfg = t.endpoint.config;
      if (
        (t.endpoint.connector === 'materialize-s3' || t.endpoint.connector === 'source-s3') &&
        isObject(cfg) &&
        typeof cfg.bucket === 'string'
      )
        buckets.add(cfg.bucket);
    }
    for (const b of buckets) await (this.rt.blobs(b) as S3BlobStore).ensureBucket();
  }

  private mapping(task: string, collection: string, handler: KinesisHandler): EventSourceMapping {
    const dlqDir = this.opts.dataDir ? join(resolve(this.opts.dataDir), 'dead-letter') : undefined;
    const m = new EventSourceMapping({
      task,
      collection,
      streamArn: this.rt.streamArn(collection),
      journal: this.rt.journal,
      checkpoints: this.checkpoints,
      handler,
      batchSize: this.opts.batchSize ?? 500,
      batchWindowMs: this.opts.batchWindowMs ?? 0,
      maxRetryAttempts: 3,
      maxRecordAgeSeconds: 7 * 24 * 3600,
      bisectOnError: true,
      reportBatchItemFailures: true,
      idlePollMs: this.opts.idlePollMs ?? 50,
      meter: this.rt.meter,
      memoryMb: this.env.memoryMb,
      beforeCheckpoint: this.opts.beforeCheckpoint
        ? (shard) => this.opts.beforeCheckpoint!(task, collection, shard)
        : undefined,
      onEvent: this.opts.onEvent ? (e) => this.opts.onEvent!(task, e) : undefined,
      onFailure: async (r) => {
        if (!dlqDir) return;
        mkdirSync(dlqDir, { recursive: true });
        await appendFile(
          join(dlqDir, `${task.replace(/[^a-zA-Z0-9_.-]/g, '_')}.jsonl`),
          `${JSON.stringify(r)}\n`,
        );
      },
    });
    this.mappings.push(m);
    return m;
  }

  private async wire(): Promise<void> {
    const { catalog } = this.opts;
    for (const [name, c] of Object.entries(catalog.captures)) {
      if (c.endpoint.connector !== 'source-http-ingest') continue;
      const h = createIngestHandler(this.rt, name);
      this.ingest.set(name, h);
      this.tasks.push({
        task: name,
        kind: 'capture',
        mappings: [],
        docs: () => h.capture.stats.docs,
        out: () => h.capture.stats.appended,
      });
    }
    for (const [name, spec] of Object.entries(catalog.captures)) {
      if (!POLLING_CONNECTORS.has(spec.endpoint.connector)) continue;
      const source = await createPollingSource(spec, {
        blobs: (c) => this.rt.blobs(c.bucket),
        secret: this.rt.secret,
      });
      const p: PollingCapture = { name, spec, source, stats: { polls: 0, docs: 0, errors: 0 } };
      this.polling.push(p);
      this.tasks.push({
        task: name,
        kind: 'capture',
        mappings: [],
        docs: () => p.stats.docs,
        out: () => p.stats.docs,
      });
    }
    for (const [name, c] of Object.entries(catalog.collections)) {
      if (!c.derive) continue;
      const h = await createDeriveHandler(this.rt, name);
      const sources = [...new Set(c.derive.transforms.filter((t) => !t.disable).map((t) => t.source.name))];
      this.tasks.push({
        task: name,
        kind: 'derivation',
        mappings: sources.map((s) => this.mapping(`derive:${name}`, s, h)),
        out: () => h.task.stats.docsOut,
        skipped: () => h.task.stats.docsSkipped,
      });
    }
    for (const name of Object.keys(catalog.collections)) {
      const h = createPersistHandler(this.rt, name, { view: this.opts.views ?? true });
      this.tasks.push({
        task: name,
        kind: 'persist',
        mappings: [this.mapping(`persist:${name}`, name, h)],
        out: () => h.task.stats.docsIn,
      });
    }
    for (const [name, m] of Object.entries(catalog.materializations)) {
      let connector = await createConnector(this.rt, name);
      if (this.opts.wrapConnector) connector = this.opts.wrapConnector(name, connector);
      const { handler, task } = await createMaterializeHandler(this.rt, name, connector);
      this.materializations.set(name, task);
      const sources = [...new Set(m.bindings.filter((b) => !b.disable).map((b) => b.source.name))];
      this.tasks.push({
        task: name,
        kind: 'materialization',
        mappings: sources.map((s) => this.mapping(`materialize:${name}`, s, handler)),
        out: () => task.stats.keysStored,
      });
    }
    if (this.opts.port !== undefined) await this.listen(this.opts.port);
  }

  private async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      void this.serve(req).then(
        (r) => {
          res.writeHead(r.statusCode ?? 200, r.headers as Record<string, string>);
          res.end(r.body);
        },
        (e: Error) => {
          this.httpStats.errors++;
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: e.message }));
        },
      );
    });
    await new Promise<void>((ok, fail) => {
      this.server!.once('error', fail);
      this.server!.listen(port, '127.0.0.1', () => ok());
    });
    this.ingestPort = (this.server.address() as AddressInfo).port;
  }

  /** A Node request → the Function URL event the ingest Lambda receives. */
  private async serve(req: IncomingMessage) {
    this.httpStats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    let size = 0;
    const limit = this.env.maxBodyBytes + 1;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size <= limit) chunks.push(c as Buffer);
    }
    const capture = [...this.ingest.keys()]
      .filter((n) => url.pathname.startsWith(`/${n}/`))
      .sort((a, b) => b.length - a.length)[0];
    if (!capture) {
      return {
        statusCode: 404,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: `no capture at ${url.pathname}`, captures: [...this.ingest.keys()] }),
      };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const body = Buffer.concat(chunks);
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      isBase64Encoded: true,
      body: size > limit ? Buffer.alloc(limit).toString('base64') : body.toString('base64'),
      requestContext: { http: { method: req.method ?? 'GET', path: url.pathname } },
    } as unknown as APIGatewayProxyEventV2;
    const started = Date.now();
    const res = await this.ingest.get(capture)!(event);
    this.rt.meter.lambda(Date.now() - started, 512); // the ingest function's invocation (512 MB on AWS)
    if ((res.statusCode ?? 200) < 300) this.httpStats.ok++;
    else this.httpStats.errors++;
    return res;
  }

  /**
   * One scheduled poll of a polling capture (what the EventBridge schedule does on AWS): poll from the
   * state saved in the fragments bucket, append, save. Serialized per capture; an error is recorded (and
   * the next tick retries from the saved state) unless `rethrow`.
   */
  private async pollCapture(p: PollingCapture, rethrow: boolean): Promise<void> {
    while (p.running) await p.running.catch(() => undefined);
    const run = (async () => {
      const started = Date.now();
      try {
        const r = await runPollingCapture(p.source, {
          spec: p.spec,
          catalog: this.opts.catalog,
          registry: this.rt.registry,
          journal: this.rt.journal,
          stateStore: this.rt.blobs(this.env.bucket),
        });
        p.stats.polls++;
        p.stats.docs += r.docs;
      } catch (e) {
        p.stats.errors++;
        p.lastError = e instanceof Error ? e.message : String(e);
        if (rethrow) throw e;
      } finally {
        this.rt.meter.lambda(Date.now() - started, this.env.memoryMb); // the poll function's invocation
      }
    })();
    p.running = run;
    try {
      await run;
    } finally {
      if (p.running === run) p.running = undefined;
    }
  }

  /** Poll every polling capture once, now (tests, `--once`); errors are thrown. */
  async poll(): Promise<void> {
    for (const p of this.polling) await this.pollCapture(p, true);
  }

  /** Start every mapping's polling loop, and every polling capture's interval timer (first poll at once). */
  run(): void {
    for (const m of this.mappings) m.start();
    for (const p of this.polling) {
      if (p.timer) continue;
      const every = this.opts.pollIntervalMs ?? (p.spec.interval ?? 5) * 1000;
      const tick = () => {
        if (this.stopped) return;
        void this.pollCapture(p, false).finally(() => {
          if (!this.stopped) p.timer = setTimeout(tick, every);
        });
      };
      p.timer = setTimeout(tick, 0);
    }
  }

  /**
   * Deliver everything currently in the journals until every mapping is idle (tests, `--once`).
   * Rounds repeat because a derivation's output feeds other mappings.
   */
  async drain(): Promise<void> {
    for (;;) {
      let moved = 0;
      for (const m of this.mappings) {
        const before = m.stats.records + m.stats.failures;
        await m.drain();
        moved += m.stats.records + m.stats.failures - before;
      }
      if (moved === 0) return;
    }
  }

  /** The first mapping failure (e.g. an injected crash), if any. */
  get failure(): Error | undefined {
    return this.mappings.find((m) => m.failure)?.failure;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.polling) {
      clearTimeout(p.timer);
      await p.running?.catch(() => undefined);
      await p.source.close();
    }
    await new Promise<void>((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections(); // keep-alive clients would otherwise hold close() open
    });
    await Promise.all(this.mappings.map((m) => m.stop()));
    for (const t of this.materializations.values()) await t.close();
    if (!this.opts.clients) destroyClients(this.rt.clients);
    if (this.ownsEmulators) {
      await this.emulators.stop();
      if (this.opts.dataDir) rmSync(join(resolve(this.opts.dataDir), 'endpoints.json'), { force: true });
    }
  }
}
