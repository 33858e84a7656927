/**
 * The live terminal view of `sluice dev`: one row per task (docs in/out, invocations, lag, errors),
 * redrawn in place on a TTY; plain log lines (every `plainEveryMs`) when not a TTY or with --no-ui.
 */
import type { LocalRunner } from './runner.ts';

export interface ViewRow {
  task: string;
  kind: string;
  docsIn: number;
  invocations: number;
  lagMs: number;
  errors: number;
  failures: number;
}

export function viewRows(runner: LocalRunner): ViewRow[] {
  return runner.tasks.map((t) => {
    const s = t.mappings.map((m) => m.stats);
    return {
      task: t.task,
      kind: t.kind,
      docsIn: t.kind === 'capture' ? runner.httpStats.ok : s.reduce((a, x) => a + x.records, 0),
      invocations: s.reduce((a, x) => a + x.invocations, 0),
      lagMs: Math.max(0, ...s.map((x) => x.millisBehindLatest)),
      errors: t.kind === 'capture' ? runner.httpStats.errors : s.reduce((a, x) => a + x.errors, 0),
      failures: s.reduce((a, x) => a + x.failures, 0),
    };
  });
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s.slice(0, n - 1)}…` : s.padEnd(n);
}

export function renderTable(rows: ViewRow[], header: string): string {
  const lines = [
    header,
    `${pad('kind', 16)}${pad('task', 44)}${'records/req'.padStart(12)}${'invocations'.padStart(12)}${'lag ms'.padStart(9)}${'errors'.padStart(8)}${'dlq'.padStart(5)}`,
  ];
  for (const r of rows)
    lines.push(
      `${pad(r.kind, 16)}${pad(r.task, 44)}${String(r.docsIn).padStart(12)}${String(r.invocations).padStart(12)}${String(r.lagMs).padStart(9)}${String(r.errors).padStart(8)}${String(r.failures).padStart(5)}`,
    );
  return lines.join('\n');
}

export class TerminalView {
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;
  private lastPlain = 0;

  constructor(
    private readonly runner: LocalRunner,
    private readonly out: NodeJS.WriteStream,
    private readonly opts: { ui: boolean; header: () => string; plainEveryMs?: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.draw(), 500);
    this.timer.unref();
  }

  draw(): void {
    const rows = viewRows(this.runner);
    if (this.opts.ui && this.out.isTTY) {
      const text = renderTable(rows, this.opts.header());
      if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
      this.out.write(`${text}\n`);
      this.drawn = text.split('\n').length;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain < (this.opts.plainEveryMs ?? 5000)) return;
    this.lastPlain = now;
    for (const r of rows)
      this.out.write(
        `${new Date(now).toISOString()} ${r.kind} ${r.task} in=${r.docsIn} invocations=${r.invocations} lag_ms=${r.lagMs} errors=${r.errors} dlq=${r.failures}\n`,
      );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
