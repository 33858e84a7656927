/**
 * `sluice dev [catalog] [--port N] [--data DIR] [--generate 500/s] [--no-ui]`: run the catalog on the
 * local stack (shared/local/runner.ts). Ctrl-C stops cleanly: HTTP first, then every mapping after its
 * in-flight batch is checkpointed, then the emulators; a restart resumes from the checkpoints.
 */
import { formatDiagnostics, hasErrors, loadCatalog } from '../shared/catalog/load.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import { isObject, type Json } from '../shared/json/types.ts';
import { DocGenerator, parseRate } from '../shared/local/generate.ts';
import { LocalRunner } from '../shared/local/runner.ts';
import { TerminalView } from '../shared/local/view.ts';

export interface DevOptions {
  port?: string | number;
  data?: string;
  generate?: string;
  ui?: boolean;
  /** Stop after this many ms (tests, smoke runs); default: run until SIGINT/SIGTERM. */
  durationMs?: number;
}

/** The first HTTP-ingest binding: where the generator posts. */
function ingestTarget(catalog: BuiltCatalog): { path: string; collection: string } | undefined {
  for (const [name, c] of Object.entries(catalog.captures)) {
    if (c.endpoint.connector !== 'source-http-ingest') continue;
    const b = c.bindings.find((x) => !x.disable);
    if (!b) continue;
    const path =
      isObject(b.resource) && typeof b.resource.path === 'string' ? b.resource.path : '/webhook-data';
    return { path: `/${name}${path}`, collection: b.target };
  }
  return undefined;
}

export async function runDev(
  catalogPath: string,
  opts: DevOptions | Record<string, unknown>,
): Promise<number> {
  const o = opts as DevOptions;
  const { catalog, diagnostics } = await loadCatalog(catalogPath);
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  if (!catalog || hasErrors(diagnostics)) return 2;
  const rate = o.generate ? parseRate(o.generate) : undefined;
  const port = Number(o.port ?? 8080);
  const runner = await LocalRunner.start({ catalog, dataDir: o.data ?? '.sluice', port, batchWindowMs: 100 });
  runner.run();
  const target = ingestTarget(catalog);
  const base = `http://127.0.0.1:${runner.ingestPort}`;
  const out = process.stdout;
  out.write(
    `sluice dev: ${Object.keys(catalog.collections).length} collections on the local stack (data in ${o.data ?? '.sluice'})\n`,
  );
  for (const name of Object.keys(catalog.captures))
    out.write(`  ingest: POST JSON to ${base}/${name}/<binding path>\n`);
  if (target)
    out.write(
      `  try:    curl -X POST ${base}${target.path} -H 'content-type: application/json' -d '{...}'\n`,
    );
  out.write(`  read:   sluice read <collection> --catalog ${catalogPath} --data ${o.data ?? '.sluice'}\n`);

  let sent = 0;
  let genErrors = 0;
  let genTimer: NodeJS.Timeout | undefined;
  let genStopped: string | undefined;
  if (rate && target) {
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
  const view = new TerminalView(runner, process.stdout, {
    ui: o.ui !== false,
    header: () =>
      `sluice dev  ingest ${base}  generated ${sent} docs${genErrors ? ` (${genErrors} failed requests)` : ''}${genStopped ? ' (generator stopped: see above)' : ''}  est. AWS cost so far $${runner.rt.meter.costReport().dollars.total.toFixed(6)}  (Ctrl-C to stop)`,
  });
  view.start();

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (o.durationMs) setTimeout(done, o.durationMs).unref();
  });
  if (genTimer) clearInterval(genTimer);
  view.draw();
  view.stop();
  out.write('\nstopping: finishing in-flight batches and checkpointing...\n');
  await runner.stop();
  const failure = runner.failure;
  if (failure) {
    process.stderr.write(`a task failed: ${failure.message}\n`);
    return 1;
  }
  out.write('stopped.\n');
  return 0;
}
