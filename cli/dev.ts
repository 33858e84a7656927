/**
 * `sluice dev [catalog] [--assembly DIR [--stack NAME]] [--port N] [--data DIR] [--generate 500/s]
 * [--no-ui] [--no-iam] [--schedule-every 5s]`: run what `cdk deploy` would deploy, on the local stack.
 * The catalog is synthesized with the project's CDK app (the same SluiceCatalog construct and cdk-nag
 * checks) into `<data>/assembly/<hash>` — or an assembly made by `cdk synth -o DIR` is taken as is —
 * and that assembly runs on the emulators (shared/local/assembly/runner.ts). Ctrl-C stops cleanly:
 * HTTP first, then every mapping after its in-flight batch is checkpointed, then the emulators; a
 * restart resumes from the checkpoints.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDuration } from '../shared/catalog/duration.ts';
import { formatDiagnostics, hasErrors, loadCatalog } from '../shared/catalog/load.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import { ingestUrlPath } from '../shared/catalog/resource-paths.ts';
import { mergeTaskCatalogs } from '../shared/catalog/task-catalog.ts';
import { startConsole } from '../shared/console/start.ts';
import type { Json } from '../shared/json/types.ts';
import { AssemblyError } from '../shared/local/assembly/errors.ts';
import { AssemblyRunner } from '../shared/local/assembly/runner.ts';
import { cachedAssembly, synthesize } from '../shared/local/assembly/synth.ts';
import { CatalogWatcher } from '../shared/local/assembly/watch.ts';
import { DocGenerator, parseRate } from '../shared/local/generate.ts';
import { TerminalView } from '../shared/local/view.ts';

export interface DevOptions {
  port?: string | number;
  data?: string;
  generate?: string;
  ui?: boolean;
  /** Run this cloud assembly (`cdk synth -o DIR`) instead of synthesizing the catalog. */
  assembly?: string;
  stack?: string;
  /** `-c onFailure=…` for the CDK app: `halt`, `park`, or JSON of policies per task label. */
  onFailure?: string;
  /** `-c views=…` for the CDK app: `all`, `none`, or a JSON list of collection names. */
  views?: string;
  /** Check AWS calls against the functions' roles (default true). */
  iam?: boolean;
  /** Run schedules this often instead of the template's rate, e.g. `5s`. */
  scheduleEvery?: string;
  /** Re-synthesize and apply edits of the catalog's files (default true; not with --assembly). */
  watch?: boolean;
  /** Serve the web console (default true), on this port (default: the ingest port + 1, else any free one). */
  console?: boolean;
  consolePort?: string | number;
  /** Stop after this many ms (tests, smoke runs); default: run until SIGINT/SIGTERM. */
  durationMs?: number;
}

/** The first HTTP-ingest binding: where the generator posts. */
function ingestTarget(catalog: BuiltCatalog): { path: string; collection: string } | undefined {
  for (const [name, c] of Object.entries(catalog.captures)) {
    if (c.endpoint.connector !== 'source-http-ingest') continue;
    const b = c.bindings.find((x) => !x.disable);
    if (!b) continue;
    return { path: `/${name}${ingestUrlPath(b.resource)}`, collection: b.target };
  }
  return undefined;
}

/**
 * The catalog as deployed: each function ships only its own task's part of it (`catalog.json` in its
 * asset folder); put together, they are every collection, capture and materialization of the assembly.
 */
function shippedCatalog(runner: AssemblyRunner): BuiltCatalog | undefined {
  const parts: BuiltCatalog[] = [];
  for (const f of runner.template.functions) {
    const file = join(f.assetDir, 'catalog.json');
    if (existsSync(file)) parts.push(JSON.parse(readFileSync(file, 'utf8')) as BuiltCatalog);
  }
  return mergeTaskCatalogs(parts);
}

/** The ingest port + 1 (a stable URL), or any free port when the ingest port is itself ephemeral. */
function consolePortFor(ingestPort: number): number {
  return ingestPort === 0 || ingestPort >= 65535 ? 0 : ingestPort + 1;
}

/**
 * SIGINT, SIGTERM or SIGHUP (a closed terminal), listened for from the first moment of `sluice dev`: a
 * signal that came while it was still starting (a process manager stopping it at once) used to find no
 * listener and kill it outright, leaving its function instances to outlive it. Each listener is `once`, so
 * a second Ctrl-C still ends a stop that hangs.
 */
function stopSignal(): {
  requested: Promise<void>;
  fired: () => boolean;
  fire: () => void;
  dispose: () => void;
} {
  let fired = false;
  let done: () => void = () => {};
  const requested = new Promise<void>((resolve) => {
    done = resolve;
  });
  const fire = () => {
    fired = true;
    done();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.once(s, fire);
  return {
    requested,
    fired: () => fired,
    fire,
    dispose: () => {
      for (const s of signals) process.off(s, fire);
    },
  };
}

export async function runDev(
  catalogPath: string,
  opts: DevOptions | Record<string, unknown>,
): Promise<number> {
  const signal = stopSignal();
  try {
    return await devSession(catalogPath, opts as DevOptions, signal);
  } finally {
    signal.dispose();
  }
}

async function devSession(
  catalogPath: string,
  o: DevOptions,
  signal: ReturnType<typeof stopSignal>,
): Promise<number> {
  const dataDir = resolve(o.data ?? '.sluice');
  const out = process.stdout;
  const t0 = Date.now();
  let assembly = o.assembly ? resolve(o.assembly) : undefined;
  // Context of the CDK app, as `cdk deploy -c …` would give it.
  const context: Record<string, unknown> = {
    ...(o.stack ? { stack: o.stack } : {}),
    ...(o.onFailure ? { onFailure: o.onFailure } : {}),
    ...(o.views ? { views: o.views } : {}),
  };
  const cached = assembly ? undefined : cachedAssembly(catalogPath, join(dataDir, 'assembly'), context);
  if (cached) {
    assembly = cached;
    out.write(
      `sluice dev: ${catalogPath} unchanged since it was synthesized\n  assembly: ${cached} (cached)\n`,
    );
  }
  if (!assembly) {
    const { catalog, diagnostics } = await loadCatalog(catalogPath);
    if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
    if (!catalog || hasErrors(diagnostics)) return 2;
    try {
      out.write(`sluice dev: synthesizing ${catalogPath} with the CDK app (as cdk deploy would)...\n`);
      const s = await synthesize(catalogPath, join(dataDir, 'assembly'), context);
      assembly = s.dir;
      out.write(
        `  assembly: ${s.dir} (${s.cached ? 'cached' : `synthesized in ${(s.ms / 1000).toFixed(1)} s`})\n`,
      );
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      return 2;
    }
  }
  if (signal.fired()) {
    out.write('stopped before the local stack started.\n');
    return 0;
  }
  let runner: AssemblyRunner;
  try {
    runner = await AssemblyRunner.start({
      assembly,
      stack: o.stack,
      dataDir,
      port: Number(o.port ?? 8080),
      iam: o.iam !== false,
      scheduleEveryMs: o.scheduleEvery ? parseDuration(o.scheduleEvery) * 1000 : undefined,
    });
  } catch (e) {
    if (e instanceof AssemblyError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  runner.run();
  const catalog = shippedCatalog(runner);
  const target = catalog ? ingestTarget(catalog) : undefined;
  const base = runner.ingestUrl;
  const t = runner.template;
  out.write(
    `sluice dev: stack ${t.stackName} on the local stack, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (data in ${dataDir})\n`,
  );
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  out.write(
    `  ${n(t.functions.length, 'function')} in Lambda's sandbox, ${n(t.streams.length, 'stream')}, ${n(t.tables.length, 'table')}, ${n(t.buckets.length, 'bucket')}, ${n(runner.mappings.length, 'event-source mapping')}, ${n(t.rules.length, 'rule')}\n`,
  );
  out.write(
    `  IAM: ${o.iam === false ? 'not checked (--no-iam)' : "every AWS call is checked against the function's role from the template"}\n`,
  );
  for (const r of runner.urlRoutes())
    out.write(
      `  ingest: POST JSON to ${base}${r.prefix}/<binding path>  (Function URL, ${r.authType}: SigV4-signed and, for convenience, unsigned requests are accepted)\n`,
    );
  if (target)
    out.write(
      `  try:    curl -X POST ${base}${target.path} -H 'content-type: application/json' -d '{...}'\n`,
    );
  out.write(`  endpoints for the AWS CLI and SDKs: ${join(dataDir, 'endpoints.json')}\n`);
  if (catalogPath && !o.assembly)
    out.write(`  read:   sluice read <collection> --catalog ${catalogPath} --data ${o.data ?? '.sluice'}\n`);

  const rate = o.generate ? parseRate(o.generate) : undefined;
  let sent = 0;
  let genErrors = 0;
  let genTimer: NodeJS.Timeout | undefined;
  let genStopped: string | undefined;
  if (rate && target && catalog) {
    const gen = new DocGenerator(catalog, target.collection);
    const tickMs = 100;
    let carry = 0;
    genTimer = setInterval(() => {
      carry += (rate * tickMs) / 1000;
      const n = Math.floor(carry);
      carry -= n;
      if (n === 0) return;
      let docs: Json[];
      try {
        docs = Array.from({ length: n }, () => gen.next());
      } catch (err) {
        // A schema the generator cannot satisfy: say so once and stop generating; the stack keeps running.
        clearInterval(genTimer);
        genStopped = err instanceof Error ? err.message : String(err);
        process.stderr.write(`--generate stopped: ${genStopped}\n`);
        return;
      }
      fetch(`${base}${target.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(docs),
      }).then(
        async (r) => {
          const body = await r.text();
          if (r.ok) sent += n;
          else if (++genErrors === 1)
            process.stderr.write(`--generate: ingest answered ${r.status}: ${body}\n`);
        },
        () => {
          genErrors++;
        },
      );
    }, tickMs);
  }
  // Edits of the catalog's files re-synthesize and restart what changed (watch.ts).
  const watcher =
    !o.assembly && o.watch !== false
      ? new CatalogWatcher(runner, {
          catalogPath,
          cacheDir: join(dataDir, 'assembly'),
          dataDir,
          context,
          log: (line) => out.write(`\n${line}\n`),
          onRunner: (r) => view.follow(r),
        })
      : undefined;
  await watcher?.start();
  if (watcher)
    out.write(`  watching ${dirname(resolve(catalogPath))}: edits re-synthesize and restart what changed\n`);
  const current = () => watcher?.current ?? runner;
  const web =
    o.console === false
      ? undefined
      : await startConsole({
          catalogPath: o.assembly ? undefined : catalogPath,
          runner: current,
          shipped: () => shippedCatalog(current()),
          refresh: watcher ? () => watcher.refreshNow() : undefined,
          dataDir,
          port: o.consolePort !== undefined ? Number(o.consolePort) : consolePortFor(Number(o.port ?? 8080)),
        });
  if (web) {
    out.write(`  console: ${web.url}\n`);
    // For `sluice parked` / `sluice redrive` from another terminal (owner-only: the URL is the token).
    writeFileSync(join(dataDir, 'console.json'), `${JSON.stringify({ url: web.url, pid: process.pid })}\n`, {
      mode: 0o600,
    });
  }
  const view = new TerminalView(runner, process.stdout, {
    ui: o.ui !== false,
    header: () =>
      `sluice dev  ingest ${base}  generated ${sent} docs${genErrors ? ` (${genErrors} failed requests)` : ''}${genStopped ? ' (generator stopped: see above)' : ''}  est. AWS cost so far $${current().meter.costReport().dollars.total.toFixed(6)}  (Ctrl-C to stop)`,
  });
  view.start();

  if (o.durationMs) setTimeout(signal.fire, o.durationMs).unref();
  await signal.requested;
  if (genTimer) clearInterval(genTimer);
  await watcher?.close();
  await web?.stop();
  rmSync(join(dataDir, 'console.json'), { force: true });
  view.draw();
  view.stop();
  out.write('\nstopping: finishing in-flight batches and checkpointing...\n');
  await current().stop();
  const failure = current().failure;
  if (failure) {
    process.stderr.write(`a task failed: ${failure.message}\n`);
    return 1;
  }
  out.write('stopped.\n');
  return 0;
}
