/**
 * `sluice dev` follows edits: a change to any file of the catalog's folder (catalog YAML, schemas,
 * derivation modules) re-synthesizes the catalog (cached by content hash: an edit that is undone costs
 * nothing) and applies the new assembly to the running stack — only the changed functions restart
 * when the wiring is the same, else the stack restarts on the same emulators (runner.ts `reload`,
 * `restart`). A catalog with errors is reported and the running stack is left as it is.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import { formatDiagnostics, hasErrors, loadCatalog } from '../../catalog/load.ts';
import { formatDiff, isEmptyDiff } from './diff.ts';
import { type FolderWatch, watchFolder } from './folder-watch.ts';
import { AssemblyRunner } from './runner.ts';
import { outsideAssembly, synthesize } from './synth.ts';

export interface WatchOptions {
  catalogPath: string;
  /** Where assemblies are cached (`<data>/assembly`). */
  cacheDir: string;
  /** The data folder: ignored when it lies inside the catalog's folder. */
  dataDir?: string;
  context?: Record<string, unknown>;
  /** Quiet period after the last change before re-synthesizing (default 300 ms). */
  debounceMs?: number;
  /** One line per step: what changed, what restarted, or why nothing did. */
  log: (line: string) => void;
  /** The stack was replaced by a new runner (a wiring change): views must follow it. */
  onRunner: (runner: AssemblyRunner) => void;
}

export interface ApplyResult {
  runner: AssemblyRunner;
  /** `~ derivation:acme/x (code)`, `+ stream …` (empty: nothing changed). */
  changes: string[];
  restarted: 'nothing' | 'functions' | 'stack';
}

/** Apply a (re-)synthesized assembly to a running stack: replace changed functions, or restart. */
export async function applyAssembly(runner: AssemblyRunner, assembly: string): Promise<ApplyResult> {
  if (resolve(assembly) === resolve(runner.opts.assembly))
    return { runner, changes: [], restarted: 'nothing' };
  const diff = await runner.reload(assembly);
  const changes = formatDiff(diff);
  if (diff.applied) return { runner, changes, restarted: isEmptyDiff(diff) ? 'nothing' : 'functions' };
  const next = await AssemblyRunner.restart(runner, assembly);
  next.run();
  return { runner: next, changes, restarted: 'stack' };
}

export class CatalogWatcher {
  private watcher: FolderWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** One re-synthesis at a time; a change during one schedules another after it. */
  private busy: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private runner: AssemblyRunner,
    private readonly o: WatchOptions,
  ) {}

  get current(): AssemblyRunner {
    return this.runner;
  }

  /** Starts watching; resolves once changes are seen (an edit made before may be missed). */
  start(): Promise<void> {
    const root = dirname(resolve(this.o.catalogPath));
    const data = this.o.dataDir ? resolve(this.o.dataDir) : undefined;
    this.watcher = watchFolder(
      root,
      () => this.schedule(),
      (path) =>
        (data !== undefined && (path === data || path.startsWith(`${data}${sep}`))) ||
        relative(root, path).split(sep).some(outsideAssembly),
    );
    return this.watcher.ready;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.busy) {
        this.again = true;
        return;
      }
      this.busy = this.refresh()
        .then(
          () => undefined,
          (e: Error) => this.o.log(`re-synthesis failed: ${e.message}`),
        )
        .finally(() => {
          this.busy = undefined;
          if (this.again) {
            this.again = false;
            this.schedule();
          }
        });
    }, this.o.debounceMs ?? 300);
  }

  /** Re-synthesize now and apply the result (also what a file change triggers). */
  async refresh(): Promise<ApplyResult | undefined> {
    const { catalog, diagnostics } = await loadCatalog(this.o.catalogPath);
    if (!catalog || hasErrors(diagnostics)) {
      this.o.log(`catalog has errors; the running stack is unchanged:\n${formatDiagnostics(diagnostics)}`);
      return undefined;
    }
    let dir: string;
    try {
      const s = await synthesize(this.o.catalogPath, this.o.cacheDir, this.o.context ?? {});
      dir = s.dir;
    } catch (e) {
      this.o.log(`synthesis failed; the running stack is unchanged:\n${(e as Error).message}`);
      return undefined;
    }
    if (this.closed) return undefined;
    const r = await applyAssembly(this.runner, dir);
    if (r.runner !== this.runner) {
      this.runner = r.runner;
      this.o.onRunner(r.runner);
    }
    if (r.restarted === 'nothing') this.o.log('re-synthesized: nothing to restart');
    else
      this.o.log(
        `re-synthesized: ${r.restarted === 'stack' ? 'the wiring changed, stack restarted' : 'restarted the changed functions'}\n${r.changes.map((c) => `  ${c}`).join('\n')}`,
      );
    return r;
  }

  /**
   * Re-synthesize now, after any re-synthesis in flight (a publish from the web console, which has just
   * written the files): one at a time, as for file changes.
   */
  async refreshNow(): Promise<ApplyResult | undefined> {
    while (this.busy) await this.busy;
    const run = this.refresh();
    this.busy = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await run;
    } finally {
      this.busy = undefined;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    }
  }

  /** Stop watching (after a re-synthesis in flight, so no runner is started behind the caller's back). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.watcher?.close();
    await this.busy;
  }
}
