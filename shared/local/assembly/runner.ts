/**
 * The local stack behind `sluice dev`: runs a synthesized cloud assembly — the one `cdk deploy` would
 * ship — on the emulators. Everything comes from the template: streams, tables, buckets and queues are
 * provisioned under the physical names CloudFormation would give them; each function runs from its
 * asset folder in Lambda's sandbox (sandbox/function.ts) behind a proxy that enforces its role's
 * policies (sandbox/proxy.ts); event-source mappings run with the template's settings through the
 * mapping emulator (../esm.ts); EventBridge schedules and S3 "Object Created" rules invoke their
 * targets with EventBridge's event shape; Function URLs are served on one loopback port. Nothing of the
 * catalog is wired here: a bug in the template or a bundle shows up locally as it would on AWS.
 *
 * `<dataDir>/endpoints.json` says where the running stack is (for `sluice read`, the AWS CLI and SDKs).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import {
  type AwsClients,
  destroyClients,
  EMULATOR_CREDENTIALS,
  makeClients,
} from '../../adapters/clients.ts';
import { DynamoStateStore, ensureTable } from '../../adapters/dynamodb.ts';
import { KinesisJournal } from '../../adapters/kinesis.ts';
import { S3BlobStore } from '../../adapters/s3.ts';
import { ParkingLot, type RedriveResult } from '../../ports/parking.ts';
import { UsageMeter } from '../../ports/usage.ts';
import { type Emulators, type S3EventRecord, startEmulators } from '../emulators.ts';
import {
  type EsmEvent,
  EventSourceMapping,
  MAX_EVENT_BYTES,
  MappingHaltedError,
  type OnFailureRecord,
} from '../esm.ts';
import type { IamRequest } from '../iam/policy.ts';
import { FunctionError, type FunctionLogLine, SandboxedFunction } from '../sandbox/function.ts';
import { meterCall } from '../sandbox/metering.ts';
import { FunctionProxy, type ProxiedCall, type ProxyHooks } from '../sandbox/proxy.ts';
import { diffTemplates, type TemplateDiff } from './diff.ts';
import { AssemblyError } from './errors.ts';
import {
  type EventBridgeEvent,
  matchesPattern,
  objectCreatedEvent,
  scheduledEvent,
  scheduleMs,
} from './eventbridge.ts';
import {
  type FunctionResource,
  type MappingResource,
  type RuleResource,
  readStackTemplate,
  type StackTemplate,
} from './template.ts';

export interface AssemblyRunnerOptions {
  /** Cloud assembly folder (`cdk synth -o DIR`). */
  assembly: string;
  stack?: string;
  /** Emulator data, logs and dead letters (persist across restarts); undefined: in memory. */
  dataDir?: string;
  /** Port of the Function URLs (0: ephemeral; undefined: not served). */
  port?: number;
  /** Shards of on-demand streams (AWS starts them at 4; default 2 here). */
  shards?: number;
  /** Reuse already running emulators (tests). */
  emulators?: Emulators;
  /** Check every AWS call against the function's role (default true). */
  iam?: boolean;
  /** Warm instances per function at most (default 2). */
  maxInstances?: number;
  /** Run schedules this often instead of the template's rate (local convenience; default: the template's). */
  scheduleEveryMs?: number;
  /** Wire-level fault injection and observation of the functions' AWS calls. */
  hooks?: ProxyHooks;
  /** Called before each mapping checkpoint; throw a CrashError to die there (crash tests). */
  beforeCheckpoint?: (task: string, stream: string, shardId: string) => void | Promise<void>;
  onEvent?: (task: string, e: EsmEvent) => void;
  /** Every line a function writes (default: appended to `<dataDir>/logs/<function>.log`). */
  onLog?: (l: FunctionLogLine) => void;
  /** Idle poll of each shard by the mappings, ms (default the mappings' IDLE_POLL_MS, 1 s as Lambda's). */
  idlePollMs?: number;
}

/** Metrics a function published in embedded metric format (what CloudWatch would receive). */
export type EmfTotals = Record<string, number>;

export interface AssemblyTask {
  /** `capture:acme/in`, `derivation:acme/out`, … (the function's POWERTOOLS_SERVICE_NAME). */
  label: string;
  kind: string;
  /** Catalog name of the task (SLUICE_TASK). */
  task: string;
  fn: SandboxedFunction;
  mappings: EventSourceMapping[];
  metrics: EmfTotals;
  /** Last error lines the function logged (halted tasks, denials). */
  recentErrors: string[];
  /** Billable units of this task's own AWS calls (the runner's `meter` counts every task's). */
  meter: UsageMeter;
}

export interface DeniedCall {
  functionName: string;
  task: string;
  request: IamRequest;
  message: string;
}

const LOCAL_MAPPING_TABLE = 'sluice-local-event-source-mappings';

export class AssemblyRunner {
  template: StackTemplate;
  readonly functions = new Map<string, SandboxedFunction>();
  readonly proxies = new Map<string, FunctionProxy>();
  readonly tasks: AssemblyTask[] = [];
  readonly mappings: EventSourceMapping[] = [];
  readonly meter = new UsageMeter();
  readonly denied: DeniedCall[] = [];
  readonly httpStats = { requests: 0, ok: 0, errors: 0 };
  readonly ruleStats = new Map<string, { invocations: number; errors: number; lastError?: string }>();
  ingestPort = 0;
  private server: Server | undefined;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribeS3: (() => void) | undefined;
  /** SDK clients straight to the emulators (no IAM): provisioning, `sluice read`, tests. */
  readonly admin: AwsClients;
  /** The streams by physical name (no IAM): provisioning, and what the event-source mappings read. */
  private readonly streams: KinesisJournal;
  /** Mapping checkpoints: AWS's state for event-source mappings, kept in a table outside the template. */
  private readonly checkpoints: DynamoStateStore;
  private ownsEmulators = false;
  private stopped = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(
    public opts: AssemblyRunnerOptions,
    readonly emulators: Emulators,
  ) {
    this.template = readStackTemplate(opts.assembly, opts.stack);
    this.admin = makeClients({
      region: this.template.region,
      endpoints: emulators.endpoints,
      credentials: EMULATOR_CREDENTIALS,
    });
    this.streams = new KinesisJournal({ client: this.admin.kinesis, streamName: (s) => s });
    this.checkpoints = new DynamoStateStore({ client: this.admin.dynamodb, table: LOCAL_MAPPING_TABLE });
  }

  static async start(opts: AssemblyRunnerOptions): Promise<AssemblyRunner> {
    const dataDir = opts.dataDir ? resolve(opts.dataDir) : undefined;
    const emulators = opts.emulators ?? (await startEmulators({ dataDir }));
    let runner: AssemblyRunner;
    try {
      runner = new AssemblyRunner(opts, emulators);
    } catch (e) {
      if (!opts.emulators) await emulators.stop();
      throw e;
    }
    runner.ownsEmulators = !opts.emulators;
    try {
      await runner.provision();
      await runner.wire();
      if (dataDir) runner.writeEndpoints(dataDir);
    } catch (e) {
      await runner.stop();
      throw e;
    }
    return runner;
  }

  get dataDir(): string | undefined {
    return this.opts.dataDir ? resolve(this.opts.dataDir) : undefined;
  }

  get ingestUrl(): string {
    return `http://127.0.0.1:${this.ingestPort}`;
  }

  // ------------------------------------------------------------------ provisioning

  private async provision(): Promise<void> {
    const t = this.template;
    for (const s of t.streams) await this.streams.ensureStream(s.name, s.shardCount ?? this.opts.shards ?? 2);
    for (const table of t.tables) {
      const key = (type: 'HASH' | 'RANGE') => {
        const name = table.keySchema.find((k) => k.KeyType === type)?.AttributeName;
        const attr = table.attributes.find((a) => a.AttributeName === name);
        return attr ? { name: attr.AttributeName, type: attr.AttributeType } : undefined;
      };
      const pk = key('HASH');
      if (!pk) throw new AssemblyError(this.template.dir, `table ${table.logicalId} has no HASH key`);
      await ensureTable(this.admin.dynamodb, table.name, pk, key('RANGE'));
    }
    await this.checkpoints.ensureTable();
    for (const b of t.buckets)
      await new S3BlobStore({ client: this.admin.s3, bucket: b.name }).ensureBucket();
    if (this.dataDir)
      for (const d of ['queues', 'logs']) mkdirSync(join(this.dataDir, d), { recursive: true });
  }

  // ------------------------------------------------------------------ functions

  private logLine(l: FunctionLogLine): void {
    const task = this.tasks.find((t) => t.fn.name === l.functionName);
    if (l.line.startsWith('{') && l.line.includes('"_aws"')) {
      try {
        const emf = JSON.parse(l.line) as {
          _aws?: { CloudWatchMetrics?: { Metrics?: { Name: string }[] }[] };
        } & Record<string, unknown>;
        for (const d of emf._aws?.CloudWatchMetrics ?? [])
          for (const m of d.Metrics ?? []) {
            const v = emf[m.Name];
            const n = Array.isArray(v) ? v.reduce((a: number, x) => a + Number(x), 0) : Number(v);
            if (task && Number.isFinite(n)) task.metrics[m.Name] = (task.metrics[m.Name] ?? 0) + n;
          }
        return;
      } catch {
        // not EMF after all: a log line
      }
    }
    if (task && (l.stream === 'stderr' || /"level":"(ERROR|WARN)"|\bERROR\b/.test(l.line))) {
      task.recentErrors.push(l.line.slice(0, 500));
      if (task.recentErrors.length > 20) task.recentErrors.shift();
    }
    if (this.opts.onLog) this.opts.onLog(l);
    else if (this.dataDir)
      void appendFile(join(this.dataDir, 'logs', `${l.functionName}.log`), `${l.line}\n`);
  }

  private taskOf(fn: FunctionResource): { label: string; kind: string; task: string } {
    const label = fn.environment.POWERTOOLS_SERVICE_NAME ?? fn.logicalId;
    const i = label.indexOf(':');
    return {
      label,
      kind: i > 0 ? label.slice(0, i) : 'function',
      task: fn.environment.SLUICE_TASK ?? (i > 0 ? label.slice(i + 1) : label),
    };
  }

  /** A function's sandbox behind its proxy (the role's policies enforced), as the template defines it. */
  private async makeFunction(t: StackTemplate, fn: FunctionResource): Promise<void> {
    const checkIam = this.opts.iam !== false;
    const role = fn.roleLogicalId ? t.roles.get(fn.roleLogicalId) : undefined;
    const { label } = this.taskOf(fn);
    const hooks = this.opts.hooks;
    const proxy = new FunctionProxy({
      functionName: fn.name,
      principalArn: `arn:aws:sts::${t.account}:assumed-role/${fn.roleArn.split('/').pop()}/${fn.name}`,
      policies: checkIam ? (role?.policies ?? []) : undefined,
      upstream: this.emulators.endpoints,
      arnEnv: {
        partition: 'aws',
        region: t.region,
        account: t.account,
        hashKeyOf: (table) =>
          t.tables.find((x) => x.name === table)?.keySchema.find((k) => k.KeyType === 'HASH')?.AttributeName,
      },
      hooks: {
        before: hooks?.before,
        after: (c, status, body) => {
          const task = this.tasks.find((x) => x.fn.name === fn.name);
          meterCall(task ? [this.meter, task.meter] : this.meter, c, status, body);
          if (status === 200) this.nudgeReaders(c);
          return hooks?.after?.(c, status, body);
        },
        denied: (c: ProxiedCall, r: IamRequest) => {
          const message = `AccessDenied: ${label} may not ${r.action} on ${r.resource}`;
          this.denied.push({ functionName: fn.name, task: label, request: r, message });
          const tv = this.tasks.find((x) => x.fn.name === fn.name);
          tv?.recentErrors.push(message);
          hooks?.denied?.(c, r);
        },
      },
    });
    await proxy.start();
    this.proxies.set(fn.logicalId, proxy);
    const sandbox = new SandboxedFunction(fn, {
      env: {
        AWS_REGION: t.region,
        AWS_DEFAULT_REGION: t.region,
        AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
        AWS_ENDPOINT_URL_KINESIS: proxy.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
        AWS_ENDPOINT_URL_S3: proxy.endpoint,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      },
      maxInstances: this.opts.maxInstances,
      onLog: (l) => this.logLine(l),
    });
    this.functions.set(fn.logicalId, sandbox);
  }

  private async wire(): Promise<void> {
    const t = this.template;
    for (const fn of t.functions) {
      await this.makeFunction(t, fn);
      const { label, kind, task } = this.taskOf(fn);
      this.tasks.push({
        label,
        kind,
        task,
        fn: this.fnOf(fn.logicalId),
        mappings: [],
        metrics: {},
        recentErrors: [],
        meter: new UsageMeter(),
      });
    }
    for (const m of t.mappings) if (m.enabled) this.addMapping(m);
    if (this.opts.port !== undefined && t.urls.length > 0) await this.listen(this.opts.port);
    this.unsubscribeS3 = this.emulators.onS3Event((r) => this.onS3Event(r));
  }

  private fnOf(logicalId: string): SandboxedFunction {
    const f = this.functions.get(logicalId);
    if (!f) throw new AssemblyError(this.template.dir, `no function ${logicalId} in the template`);
    return f;
  }

  private async deadLetter(targetArn: string | undefined, message: unknown): Promise<void> {
    if (!targetArn || !this.dataDir) return;
    const q = this.template.queues.find((x) => x.arn === targetArn);
    const name = q?.name ?? targetArn.split(':').pop()!;
    await appendFile(join(this.dataDir, 'queues', `${name}.jsonl`), `${JSON.stringify(message)}\n`);
  }

  /** A function put records into a stream: its mappings poll now (EventSourceMapping.nudge). */
  private nudgeReaders(c: ProxiedCall): void {
    if (c.service !== 'kinesis') return;
    const put = c.iam.find((r) => r.action === 'kinesis:PutRecords' || r.action === 'kinesis:PutRecord');
    if (!put) return;
    const stream = put.resource.slice(put.resource.lastIndexOf('/') + 1);
    for (const m of this.mappings) if (m.collection === stream) m.nudge();
  }

  private addMapping(m: MappingResource): void {
    const t = this.template;
    const stream = t.streams.find((s) => s.logicalId === m.streamLogicalId)!;
    // Looked up per invocation: a reload may replace the function (new code, same wiring).
    const fn = () => this.fnOf(m.functionLogicalId);
    const task = this.tasks.find((x) => x.fn === fn())!;
    const esm = new EventSourceMapping({
      task: m.logicalId,
      collection: stream.name,
      streamArn: stream.arn,
      journal: this.streams,
      checkpoints: this.checkpoints,
      handler: async (event) => {
        const started = Date.now();
        const f = fn();
        try {
          return (await f.invoke(event)) as never;
        } finally {
          this.meter.lambda(Date.now() - started, f.fn.memoryMb);
        }
      },
      batchSize: m.batchSize,
      batchWindowMs: m.maxBatchingWindowSeconds * 1000,
      maxRetryAttempts: m.maxRetryAttempts < 0 ? undefined : m.maxRetryAttempts,
      maxRecordAgeSeconds: m.maxRecordAgeSeconds < 0 ? undefined : m.maxRecordAgeSeconds,
      bisectOnError: m.bisectOnError,
      reportBatchItemFailures: m.reportBatchItemFailures,
      idlePollMs: this.opts.idlePollMs,
      memoryMb: fn().fn.memoryMb,
      beforeCheckpoint: this.opts.beforeCheckpoint
        ? (shard) => this.opts.beforeCheckpoint!(task.label, stream.name, shard)
        : undefined,
      onEvent: this.opts.onEvent ? (e) => this.opts.onEvent!(task.label, e) : undefined,
      onFailure: (r: OnFailureRecord) =>
        this.deadLetter(m.onFailureArn, onFailureMessage(r, fn(), stream.arn)),
    });
    this.mappings.push(esm);
    task.mappings.push(esm);
  }

  // ------------------------------------------------------------------ EventBridge

  /** Invoke a rule's targets with an event, as EventBridge does (async, retried, then the target's DLQ). */
  private deliver(rule: RuleResource, event: EventBridgeEvent): Promise<void> {
    const stats = this.ruleStats.get(rule.logicalId) ?? { invocations: 0, errors: 0 };
    this.ruleStats.set(rule.logicalId, stats);
    const run = Promise.all(
      rule.targets.map(async (target) => {
        const fn = this.fnOf(target.functionLogicalId);
        // EventBridge retries up to the target's MaximumRetryAttempts, with backoff over up to its maximum
        // event age (an S3 capture's: 185, a day); here at most twice and at once, so that a session or a
        // test sees what lands on the dead-letter queue in seconds, not tomorrow.
        const attempts = 1 + Math.min(target.retryAttempts ?? 2, 2);
        for (let i = 0; i < attempts && !this.stopped; i++) {
          const started = Date.now();
          stats.invocations++;
          try {
            // A target with a constant Input gets that instead of the event (e.g. the backfill tick).
            await fn.invoke(target.input ?? event);
            return;
          } catch (e) {
            stats.errors++;
            stats.lastError = e instanceof Error ? e.message : String(e);
          } finally {
            this.meter.lambda(Date.now() - started, fn.fn.memoryMb);
          }
        }
        if (!this.stopped) await this.deadLetter(target.deadLetterArn, { event, error: stats.lastError });
      }),
    ).then(() => undefined);
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
    return run;
  }

  /** Fire every schedule rule once now and wait for its targets (tests; `sluice dev` runs them on timers). */
  async runSchedules(): Promise<void> {
    await Promise.all(
      this.template.rules
        .filter((r) => r.enabled && r.schedule)
        .map((r) => this.deliver(r, scheduledEvent(r.arn, this.template))),
    );
  }

  /** Errors of the last schedule/EventBridge deliveries, by rule. */
  ruleErrors(): string[] {
    return [...this.ruleStats.entries()]
      .filter(([, s]) => s.lastError)
      .map(([id, s]) => `${id}: ${s.lastError}`);
  }

  private onS3Event(r: S3EventRecord): void {
    if (this.stopped || !r.eventName.startsWith('ObjectCreated')) return;
    const key = decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '));
    const event = objectCreatedEvent(
      {
        bucket: r.s3.bucket.name,
        key,
        size: r.s3.object.size,
        etag: r.s3.object.eTag,
        sequencer: r.s3.object.sequencer,
        reason: r.eventName.split(':')[1],
      },
      this.template,
    );
    for (const rule of this.template.rules)
      if (rule.enabled && rule.eventPattern && matchesPattern(rule.eventPattern, event))
        void this.deliver(rule, event);
  }

  // ------------------------------------------------------------------ Function URLs

  private async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      void this.serveUrl(req).then(
        (r) => {
          res.writeHead(r.statusCode, r.headers);
          res.end(r.body);
        },
        (e: Error) => {
          this.httpStats.errors++;
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ Message: 'Internal Server Error', error: e.message }));
        },
      );
    });
    await new Promise<void>((ok, fail) => {
      this.server!.once('error', fail);
      this.server!.listen(port, '127.0.0.1', () => ok());
    });
    this.ingestPort = (this.server.address() as AddressInfo).port;
  }

  /** Function URLs by the path prefix that reaches them: `/<SLUICE_TASK>/…` (the capture name), as on AWS. */
  urlRoutes(): { prefix: string; fn: SandboxedFunction; authType: string }[] {
    return this.template.urls.map((u) => {
      const fn = this.fnOf(u.functionLogicalId);
      return { prefix: `/${fn.fn.environment.SLUICE_TASK ?? ''}`, fn, authType: u.authType };
    });
  }

  private async serveUrl(
    req: IncomingMessage,
  ): Promise<{ statusCode: number; headers: Record<string, string>; body: string | Buffer }> {
    this.httpStats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const routes = this.urlRoutes();
    const route =
      routes.length === 1
        ? routes[0]
        : routes
            .filter((r) => url.pathname === r.prefix || url.pathname.startsWith(`${r.prefix}/`))
            .sort((a, b) => b.prefix.length - a.prefix.length)[0];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (!route) {
      this.httpStats.errors++;
      return {
        statusCode: 404,
        headers: { 'content-type': 'application/json' },
        body: '{"Message":"Not Found"}',
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
      queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
      isBase64Encoded: true,
      body: body.toString('base64'),
      requestContext: {
        accountId: this.template.account,
        apiId: 'local',
        domainName: `127.0.0.1:${this.ingestPort}`,
        http: {
          method: req.method ?? 'GET',
          path: url.pathname,
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId: crypto.randomUUID(),
        routeKey: '$default',
        stage: '$default',
        time: new Date().toISOString(),
        timeEpoch: Date.now(),
      },
    };
    // Lambda takes an invocation payload of at most 6 MB, the event's base64 body included: a larger
    // request never reaches the function on AWS, so it must not here either (the capture's own limit,
    // SLUICE_MAX_BODY_BYTES, is larger and would let it in).
    const payload = Buffer.byteLength(JSON.stringify(event));
    if (payload > MAX_EVENT_BYTES) {
      this.httpStats.errors++;
      return {
        statusCode: 413,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          Message: `Request must be smaller than ${MAX_EVENT_BYTES} bytes for the InvokeFunction operation (this one is ${payload} bytes as Lambda's event)`,
        }),
      };
    }
    const started = Date.now();
    let result: unknown;
    try {
      result = await route.fn.invoke(event);
    } catch (e) {
      this.httpStats.errors++;
      const msg = e instanceof FunctionError ? `${e.errorType}: ${e.errorMessage}` : String(e);
      return {
        statusCode: 502,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ Message: 'Internal Server Error', error: msg }),
      };
    } finally {
      this.meter.lambda(Date.now() - started, route.fn.fn.memoryMb);
    }
    // Function URL response mapping: an object with statusCode is taken as is; anything else is a 200 JSON body.
    const r = result as {
      statusCode?: number;
      headers?: Record<string, string>;
      body?: string;
      isBase64Encoded?: boolean;
    } | null;
    if (r && typeof r === 'object' && typeof r.statusCode === 'number') {
      const status = r.statusCode;
      if (status < 300) this.httpStats.ok++;
      else this.httpStats.errors++;
      return {
        statusCode: status,
        headers: r.headers ?? {},
        body: r.isBase64Encoded ? Buffer.from(r.body ?? '', 'base64') : (r.body ?? ''),
      };
    }
    this.httpStats.ok++;
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Where the catalog's data lives, as the template hands it to the functions: the state table, each
   * collection's stream and fragment folder.
   */
  get resources(): {
    stateTable: string | undefined;
    streams: Record<string, string>;
    fragments: Record<string, { bucket: string; folder: string }>;
    /** Collections whose persister keeps no reduced view (SluiceCatalogProps.views). */
    noViews: string[];
  } {
    const streams: Record<string, string> = {};
    const noViews: string[] = [];
    const fragments: Record<string, { bucket: string; folder: string }> = {};
    let stateTable: string | undefined;
    for (const f of this.template.functions) {
      try {
        Object.assign(streams, JSON.parse(f.environment.SLUICE_STREAMS ?? '{}'));
        for (const [c, url] of Object.entries(
          JSON.parse(f.environment.SLUICE_FRAGMENTS ?? '{}') as Record<string, string>,
        )) {
          const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
          if (m) fragments[c] = { bucket: m[1], folder: m[2] };
        }
      } catch {
        // not a Sluice function
      }
      stateTable ??= f.environment.SLUICE_STATE_TABLE;
      if (f.environment.SLUICE_VIEW === 'off' && f.environment.SLUICE_TASK)
        noViews.push(f.environment.SLUICE_TASK);
    }
    return { stateTable, streams, fragments, noViews };
  }

  private writeEndpoints(dataDir: string): void {
    mkdirSync(dataDir, { recursive: true });
    const { stateTable, streams, fragments, noViews } = this.resources;
    // Kept after stop: `sluice read` on a stopped stack finds the state table of the stack that ran here.
    writeFileSync(
      join(dataDir, 'stack.json'),
      `${JSON.stringify({ stack: this.template.stackName, assembly: this.template.dir, stateTable, streams, fragments, noViews }, null, 2)}\n`,
    );
    writeFileSync(
      join(dataDir, 'endpoints.json'),
      `${JSON.stringify(
        {
          kinesis: this.emulators.endpoints.kinesis,
          dynamodb: this.emulators.endpoints.dynamodb,
          s3: this.emulators.endpoints.s3,
          ingest: this.ingestPort ? this.ingestUrl : undefined,
          region: this.template.region,
          pid: process.pid,
          stack: this.template.stackName,
          assembly: this.template.dir,
          stateTable,
          streams,
          fragments,
        },
        null,
        2,
      )}\n`,
    );
  }

  /** Start the mappings' polling loops and the schedules (first run at once). */
  run(): void {
    for (const m of this.mappings) m.start();
    for (const rule of this.template.rules) {
      if (!rule.enabled || !rule.schedule) continue;
      const every =
        this.opts.scheduleEveryMs ?? scheduleMs(rule.schedule, `${this.template.dir} ${rule.logicalId}`);
      let running: Promise<void> | undefined;
      const tick = () => {
        if (this.stopped || running) return;
        running = this.deliver(rule, scheduledEvent(rule.arn, this.template)).finally(() => {
          running = undefined;
        });
      };
      tick();
      const timer = setInterval(tick, every);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /**
   * Deliver everything in the streams until every mapping is idle (tests, `sluice test`-like runs). A
   * task halted at a failing record throws MappingHaltedError naming the task (its label), the shard,
   * the record and the error, instead of retrying forever as the running stack does.
   */
  async drain(): Promise<void> {
    for (;;) {
      let moved = 0;
      for (const task of this.tasks)
        for (const m of task.mappings) {
          const before = m.stats.records + m.stats.failures;
          try {
            await m.drain();
          } catch (e) {
            if (e instanceof MappingHaltedError) throw new MappingHaltedError(task.label, e.halt);
            throw e;
          }
          moved += m.stats.records + m.stats.failures - before;
        }
      if (moved === 0) return;
    }
  }

  /** The first mapping failure (e.g. an injected crash), if any. */
  get failure(): Error | undefined {
    return this.mappings.find((m) => m.failure)?.failure;
  }

  /** A task by catalog name or label (`derivation:acme/x`). */
  task(name: string): AssemblyTask {
    const t = this.tasks.find((x) => x.label === name || x.task === name);
    if (!t)
      throw new AssemblyError(
        this.template.dir,
        `no task ${name} (tasks: ${this.tasks.map((x) => x.label).join(', ')})`,
      );
    return t;
  }

  /** The parking lot of a `park` task (its function's SLUICE_PARKED), read with the emulator clients. */
  parkingLot(name: string): ParkingLot {
    const t = this.task(name);
    const url = this.template.functions.find((f) => f.logicalId === t.fn.fn.logicalId)?.environment
      .SLUICE_PARKED;
    const m = url ? /^s3:\/\/([^/]+)\/(.+\/)$/.exec(url) : null;
    if (!m)
      throw new AssemblyError(
        this.template.dir,
        `${t.label} does not park documents (its failure policy is halt: synthesize with -c onFailure=park, or the SluiceCatalog prop onFailure)`,
      );
    return new ParkingLot(new S3BlobStore({ client: this.admin.s3, bucket: m[1] }), m[2], t.label);
  }

  /**
   * `sluice redrive`: invoke the task's function as the CLI does on AWS, with the redrive event; it
   * applies its parked documents again (functions/telemetry.ts).
   */
  async redrive(name: string): Promise<RedriveResult> {
    const t = this.task(name);
    this.parkingLot(name); // says clearly when the task does not park
    return (await t.fn.invoke({ sluiceRedrive: {} })) as RedriveResult;
  }

  /**
   * Apply a re-synthesized assembly of the same stack. Functions whose code, configuration or policies
   * changed are replaced (their mappings, rules and URL go on with the new one; an invocation in flight
   * on the old one fails and is retried, as a deployment's would be). A change to the wiring is not
   * applied here (`applied: false`): `restart` the stack on the same emulators.
   */
  async reload(assembly: string): Promise<TemplateDiff & { applied: boolean }> {
    const next = readStackTemplate(assembly, this.opts.stack);
    const diff = diffTemplates(this.template, next);
    if (diff.wiring.length > 0) return { ...diff, applied: false };
    for (const change of diff.functions) {
      const fn = next.functions.find((f) => f.logicalId === change.logicalId)!;
      const oldFn = this.fnOf(fn.logicalId);
      const oldProxy = this.proxies.get(fn.logicalId);
      await this.makeFunction(next, fn);
      const task = this.tasks.find((x) => x.fn === oldFn);
      if (task) task.fn = this.fnOf(fn.logicalId);
      await oldFn.stop();
      await oldProxy?.stop();
    }
    this.template = next;
    this.opts = { ...this.opts, assembly };
    // stack.json names the assembly that runs: `sluice parked`/`redrive` on a stopped stack start it.
    if (this.dataDir) this.writeEndpoints(this.dataDir);
    return { ...diff, applied: true };
  }

  /**
   * Stop this stack and start `assembly` on the same emulators (streams, tables, buckets and mapping
   * checkpoints kept: the new stack resumes where this one stood). The new runner owns the emulators
   * if this one did.
   */
  static async restart(old: AssemblyRunner, assembly: string): Promise<AssemblyRunner> {
    const owns = old.ownsEmulators;
    old.ownsEmulators = false;
    await old.stop();
    const port = old.ingestPort || old.opts.port;
    const runner = await AssemblyRunner.start({ ...old.opts, assembly, port, emulators: old.emulators });
    runner.ownsEmulators = owns;
    return runner;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.unsubscribeS3?.();
    await new Promise<void>((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
    await Promise.all(this.mappings.map((m) => m.stop()));
    await Promise.allSettled([...this.inflight]);
    await Promise.all([...this.functions.values()].map((f) => f.stop()));
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
    destroyClients(this.admin);
    if (this.ownsEmulators) {
      await this.emulators.stop();
      if (this.dataDir) rmSync(join(this.dataDir, 'endpoints.json'), { force: true });
    }
  }
}

/** What Lambda sends to a Kinesis mapping's on-failure destination. */
function onFailureMessage(r: OnFailureRecord, fn: SandboxedFunction, streamArn: string) {
  return {
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn: fn.fn.arn,
      condition: r.reason,
      approximateInvokeCount: 1,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      shardId: r.shardId,
      startSequenceNumber: r.startSequenceNumber,
      endSequenceNumber: r.endSequenceNumber,
      approximateArrivalOfFirstRecord: r.approximateArrivalOfFirstRecord,
      batchSize: r.batchSize,
      streamArn,
    },
    error: r.error,
  };
}
