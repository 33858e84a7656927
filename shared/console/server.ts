/**
 * The web console's HTTP server, run inside `sluice dev`: the bundled browser app and a small JSON API
 * over the running stack, with live figures pushed over server-sent events (one message a second,
 * whatever the traffic). Loopback only, under a random path: another local user, or a web page in the
 * same browser, cannot reach the API without the URL printed in the banner (it also refuses any Host
 * header but 127.0.0.1/localhost, against DNS rebinding).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, relative } from 'node:path';
import { loadCatalog } from '../catalog/load.ts';
import type { Json } from '../json/types.ts';
import { AssemblyError } from '../local/assembly/errors.ts';
import { type ParkingLot, parkedInfo } from '../ports/parking.ts';
import type { ParkedDocInfo } from './api-types.ts';
import { buildWebBundle, type WebBundle } from './bundle.ts';
import { ConsoleError, collectionInfo, JournalTail, reducedDocs } from './collections.ts';
import { type DraftFiles, Drafts } from './drafts.ts';
import { flowGraph } from './graph.ts';
import type { ConsoleHost, ReloadSummary } from './host.ts';
import { LiveStats, taskCost } from './live.ts';
import { runCatalogTests } from './tests.ts';

export interface ConsoleOptions {
  /** Port on 127.0.0.1 (0: any free port; default 0). */
  port?: number;
  /** The URL's secret path segment (default: random). */
  token?: string;
  /** Live figures every this many ms (default 1000). */
  sampleEveryMs?: number;
}

const MAX_BODY = 4 * 1024 * 1024;
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Sluice console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/app.css">
<script type="module" src="assets/app.js"></script>
</head>
<body><a class="skip" href="#main">Skip to content</a><div id="app"></div></body>
</html>
`;

export class ConsoleServer {
  readonly live: LiveStats;
  readonly drafts: Drafts;
  private server: Server | undefined;
  private bundle: WebBundle | undefined;
  private readonly token: string;
  private readonly streams = new Set<ServerResponse>();
  private readonly tails = new Set<JournalTail>();
  private publishing = false;
  port = 0;

  constructor(
    private readonly host: ConsoleHost,
    private readonly opts: ConsoleOptions = {},
  ) {
    this.token = opts.token ?? randomBytes(12).toString('base64url');
    this.live = new LiveStats(host, { everyMs: opts.sampleEveryMs });
    this.drafts = new Drafts(host.catalogPath);
  }

  /** The URL to open (the banner's `console:` line). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/${this.token}/`;
  }

  /** Build (or reuse) the browser bundle and listen; resolves with the URL. */
  async start(): Promise<string> {
    this.bundle = await buildWebBundle();
    this.server = createServer((req, res) => {
      this.route(req, res).catch((e: unknown) => this.fail(res, e));
    });
    await new Promise<void>((ok, fail) => {
      this.server!.once('error', fail);
      this.server!.listen(this.opts.port ?? 0, '127.0.0.1', () => ok());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.live.start();
    return this.url;
  }

  async stop(): Promise<void> {
    this.live.stop();
    // Ending a stream runs its close handler: the live subscription and any journal tail stop with it.
    for (const s of this.streams) s.destroy();
    for (const t of this.tails) t.stop();
    await new Promise<void>((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  private fail(res: ServerResponse, e: unknown): void {
    const status = e instanceof ConsoleError ? e.status : 500;
    if (res.headersSent) {
      res.end();
      return;
    }
    this.json(res, status, { error: e instanceof Error ? e.message : String(e) });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    // Only JSON bodies: a cross-site form cannot send one without a preflight this server never answers.
    if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
      throw new ConsoleError(415, 'expected a JSON body (content-type: application/json)');
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req) {
      n += (c as Buffer).length;
      if (n > MAX_BODY) throw new ConsoleError(413, `request body over ${MAX_BODY} bytes`);
      chunks.push(c as Buffer);
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // answered below
    }
    throw new ConsoleError(400, 'the request body is not a JSON object');
  }

  private draftOf(body: Record<string, unknown>): DraftFiles {
    const files = body.files ?? {};
    if (!files || typeof files !== 'object' || Array.isArray(files))
      throw new ConsoleError(400, '`files` must be an object of path → text');
    return files as DraftFiles;
  }

  private sse(res: ServerResponse, onClose: () => void): (event: string, data: unknown) => void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    this.streams.add(res);
    // The response's close is the connection's (a request's own close fires once its body is read).
    res.on('close', () => {
      this.streams.delete(res);
      onClose();
    });
    return (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`)
      throw new ConsoleError(403, `refused Host ${host}: the console answers on 127.0.0.1 only`);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const prefix = `/${this.token}/`;
    if (url.pathname === `/${this.token}`) {
      res.writeHead(301, { location: prefix });
      res.end();
      return;
    }
    if (!url.pathname.startsWith(prefix)) throw new ConsoleError(404, 'not found');
    const path = url.pathname.slice(prefix.length);
    const q = (name: string) => {
      const v = url.searchParams.get(name);
      if (v === null) throw new ConsoleError(400, `missing query parameter ${name}`);
      return v;
    };
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
      });
      res.end(INDEX_HTML);
      return;
    }
    if (method === 'GET' && path.startsWith('assets/')) {
      const name = path.slice('assets/'.length);
      const file = join(this.bundle!.dir, name);
      if (!/^[\w.-]+$/.test(name) || !existsSync(file)) throw new ConsoleError(404, `no asset ${name}`);
      res.writeHead(200, {
        'content-type': TYPES[extname(name)] ?? 'application/octet-stream',
        // The folder is named by the content hash: a changed app is a new folder.
        'cache-control': 'no-cache',
      });
      res.end(readFileSync(file));
      return;
    }
    const runner = this.host.runner();
    const catalog = await this.host.catalog();
    switch (`${method} ${path}`) {
      case 'GET api/graph':
        return this.json(res, 200, {
          graph: flowGraph(catalog),
          catalogPath: relative(process.cwd(), this.host.catalogPath) || this.host.catalogPath,
          deployCommand: this.host.deployCommand,
          ingestUrl: runner.ingestUrl,
          generation: this.live.generation,
          live: this.live.snapshot(),
        });
      case 'GET api/events': {
        const send = this.sse(res, () => unsubscribe());
        send('stats', this.live.snapshot());
        const unsubscribe = this.live.subscribe((s) => send('stats', s));
        return;
      }
      case 'GET api/task':
        return this.json(res, 200, await this.task(q('label')));
      case 'GET api/parked':
        return this.json(res, 200, await this.parkedDocs(q('label'), Number.POSITIVE_INFINITY));
      case 'POST api/redrive': {
        const { task } = await this.body(req);
        if (typeof task !== 'string') throw new ConsoleError(400, '`task` must be a task label');
        const runner = this.host.runner();
        if (!runner.tasks.some((t) => t.label === task))
          throw new ConsoleError(404, `no task ${task} in the running stack`);
        return this.json(res, 200, await runner.redrive(task));
      }
      case 'GET api/collection':
        return this.json(res, 200, collectionInfo(catalog, q('name')));
      case 'GET api/docs':
        return this.json(
          res,
          200,
          await reducedDocs(runner, catalog, q('name'), {
            prefix: url.searchParams.get('prefix') ?? undefined,
            after: url.searchParams.get('after') ?? undefined,
            limit: Number(url.searchParams.get('limit') ?? 25),
          }),
        );
      case 'GET api/tail': {
        collectionInfo(catalog, q('name'));
        const tail = new JournalTail(runner, q('name'), (docs) => send('docs', docs));
        const send = this.sse(res, () => {
          tail.stop();
          this.tails.delete(tail);
        });
        this.tails.add(tail);
        tail.start();
        return;
      }
      case 'POST api/ingest':
        return this.json(res, 200, await this.ingest(await this.body(req)));
      case 'GET api/files':
        return this.json(res, 200, {
          folder: relative(process.cwd(), this.drafts.folder) || this.drafts.folder,
          root: relative(this.drafts.folder, this.host.catalogPath),
          files: this.drafts.files(),
        });
      case 'GET api/file':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(this.drafts.read(q('path')));
        return;
      case 'POST api/tests':
        return this.json(res, 200, await this.tests(await this.body(req)));
      case 'POST api/drafts/check':
        return this.json(res, 200, await this.drafts.check(this.draftOf(await this.body(req)), catalog));
      case 'POST api/drafts/publish':
        return this.json(res, 200, await this.publish(this.draftOf(await this.body(req))));
      default:
        throw new ConsoleError(404, `no ${method} ${path}`);
    }
  }

  /** A `park` task's parked documents (undefined when it halts instead). */
  private async parkedDocs(label: string, limit: number): Promise<ParkedDocInfo[] | undefined> {
    let lot: ParkingLot;
    try {
      lot = this.host.runner().parkingLot(label);
    } catch (e) {
      if (e instanceof AssemblyError) return undefined;
      throw e;
    }
    return (await lot.list(limit)).map(({ key, parked }) => parkedInfo(key, parked));
  }

  private async task(label: string) {
    const runner = this.host.runner();
    const t = runner.tasks.find((x) => x.label === label);
    if (!t) throw new ConsoleError(404, `no task ${label} in the running stack`);
    // Batches the task's mappings gave up on (Lambda's on-failure destination): where they were.
    const queues = runner.template.mappings
      .filter((m) => m.functionLogicalId === t.fn.fn.logicalId && m.onFailureArn)
      .map((m) => runner.template.queues.find((x) => x.arn === m.onFailureArn)?.name)
      .filter((x): x is string => x !== undefined);
    const parked: Json[] = [];
    for (const name of queues) {
      const file = runner.dataDir ? join(runner.dataDir, 'queues', `${name}.jsonl`) : undefined;
      if (!file || !existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(-20))
        if (line) parked.push(JSON.parse(line) as Json);
    }
    return {
      label: t.label,
      kind: t.kind,
      task: t.task,
      functionName: t.fn.name,
      memoryMb: t.fn.fn.memoryMb,
      stats: t.fn.stats,
      mappings: t.mappings.map((m) => ({ ...m.stats, lastError: m.lastError, failure: m.failure?.message })),
      history: this.live.history.get(label) ?? [],
      recentErrors: t.recentErrors.slice(-20),
      lastError: t.fn.lastError?.message,
      cost: taskCost(this.host, label),
      parked,
      parkedDocs: await this.parkedDocs(label, 100),
    };
  }

  private async ingest(body: Record<string, unknown>): Promise<{ status: number; body: Json | string }> {
    const path = body.path;
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new ConsoleError(400, '`path` must be the binding path, starting with /');
    if (typeof body.body !== 'string') throw new ConsoleError(400, '`body` must be the request text');
    const r = await fetch(`${this.host.runner().ingestUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body.body,
    });
    const text = await r.text();
    try {
      return { status: r.status, body: JSON.parse(text) as Json };
    } catch {
      return { status: r.status, body: text };
    }
  }

  private async tests(body: Record<string, unknown>) {
    const files = this.draftOf(body);
    if (Object.keys(files).length === 0) {
      const { catalog, diagnostics } = await loadCatalog(this.host.catalogPath);
      if (!catalog)
        return { passed: 0, failed: 0, results: [], error: 'the catalog has errors', diagnostics };
      return runCatalogTests(catalog);
    }
    return this.drafts.withDraft(files, async ({ catalog, diagnostics, dir }) => {
      if (!catalog) return { passed: 0, failed: 0, results: [], error: 'the draft has errors', diagnostics };
      return runCatalogTests(catalog, (l) => Drafts.unmap(l, dir, this.drafts.folder));
    });
  }

  private async publish(files: DraftFiles) {
    if (this.publishing) throw new ConsoleError(409, 'a publish is already in progress');
    this.publishing = true;
    try {
      const result = await this.drafts.publish(files, await this.host.catalog());
      if (!result.ok) return { ...result, published: false };
      let reload: ReloadSummary = { ok: true, messages: ['nothing changed: the stack keeps running'] };
      if (result.written.length > 0) {
        reload = await this.host.reload();
        this.live.generation++;
        this.live.tick();
      }
      return { ...result, published: true, reload };
    } finally {
      this.publishing = false;
    }
  }
}
