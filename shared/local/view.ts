/**
 * The live terminal view of `sluice dev`: one row per task (docs in/out, invocations, lag, errors,
 * estimated AWS cost and the service most of it goes to), redrawn in place on a TTY; plain log lines
 * (every `plainEveryMs`) when not a TTY or with --no-ui.
 */
import { type CostReport, costOf, emptyUsage } from '../ports/usage.ts';
import type { AssemblyRunner, AssemblyTask } from './assembly/runner.ts';
import type { ShardHalt } from './esm.ts';

export interface ViewRow {
  label: string;
  task: string;
  kind: string;
  /** Documents in: accepted by a capture, or delivered to a task by its mappings. */
  docsIn: number;
  /** Documents out (see TaskView.out). */
  docsOut: number;
  /** Documents per second over the last refresh interval. */
  rate: number;
  invocations: number;
  /** Max of MillisBehindLatest and the iterator age of the last delivery. */
  lagMs: number;
  errors: number;
  failures: number;
  /** Estimated AWS cost of this task's run so far (taskCost), USD. */
  costUsd: number;
  /** The service most of that cost goes to (`S3`, `DynamoDB`, `Kinesis`, `Lambda`); '' before any. */
  costMostly: string;
  /** Where the task stands still: a document that keeps failing, retried until it succeeds. */
  halted?: ShardHalt;
  /** Documents it parked (`park` policy) and not yet redriven, as its metrics count them. */
  parked: number;
}

/** Billable units and estimated cost of one task's run so far: its own AWS calls, and its function's invocations. */
export function taskCost(t: AssemblyTask): CostReport {
  // Lambda is billed per invocation and GB-second; the task's own AWS calls come from its meter.
  const usage = { ...emptyUsage(), ...t.meter.usage };
  usage.lambdaInvocations = t.fn.stats.invocations;
  usage.lambdaGbSeconds = (t.fn.stats.durationMs / 1000) * (t.fn.fn.memoryMb / 1024);
  return costOf(usage);
}

const SERVICES = [
  ['Kinesis', 'kinesis'],
  ['DynamoDB', 'dynamodb'],
  ['S3', 's3'],
  ['Lambda', 'lambda'],
] as const;

/** The service with the largest share of a cost ('' when nothing was spent). */
export function mostly(c: CostReport): string {
  let best = '';
  let most = 0;
  for (const [name, k] of SERVICES) {
    if (c.dollars[k] > most) {
      most = c.dollars[k];
      best = name;
    }
  }
  return best;
}

export function viewRows(
  runner: AssemblyRunner,
  previous?: Map<string, { docs: number; at: number }>,
): ViewRow[] {
  const now = Date.now();
  return runner.tasks.map((t) => {
    const s = t.mappings.map((m) => m.stats);
    // Documents in and out as the functions report them (their EMF metrics, what CloudWatch would show).
    const docsIn = t.metrics.DocsIn ?? 0;
    const key = t.label;
    const prev = previous?.get(key);
    const rate = prev && now > prev.at ? ((docsIn - prev.docs) * 1000) / (now - prev.at) : 0;
    previous?.set(key, { docs: docsIn, at: now });
    const cost = taskCost(t);
    return {
      task: t.task,
      kind: t.kind,
      docsIn,
      docsOut: t.metrics.DocsOut ?? 0,
      rate: Math.max(0, Math.round(rate)),
      invocations: t.fn.stats.invocations,
      lagMs: Math.max(0, ...s.map((x) => Math.max(x.millisBehindLatest, x.iteratorAgeMs))),
      errors: t.fn.stats.errors,
      failures: s.reduce((a, x) => a + x.failures, 0),
      costUsd: cost.dollars.total,
      costMostly: mostly(cost),
      halted: t.mappings.flatMap((m) => [...m.halts.values()]).sort((a, b) => a.sinceMs - b.sinceMs)[0],
      label: t.label,
      parked: Math.max(0, (t.metrics.DocsParked ?? 0) - (t.metrics.DocsRedriven ?? 0)),
    };
  });
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s.slice(0, n - 1)}…` : s.padEnd(n);
}

const COLUMNS: [string, number][] = [
  ['docs in', 11],
  ['docs out', 10],
  ['docs/s', 8],
  ['invocations', 12],
  ['lag ms', 8],
  ['errors', 7],
  ['dlq', 5],
  ['est. $', 11],
  ['mostly', 10],
];

export function renderTable(rows: ViewRow[], header: string): string {
  const lines = [
    header,
    `${pad('kind', 16)}${pad('task', 44)}${COLUMNS.map(([c, w]) => c.padStart(w)).join('')}`,
  ];
  for (const r of rows) {
    const cells = [
      r.docsIn,
      r.docsOut,
      r.rate,
      r.invocations,
      r.lagMs,
      r.errors,
      r.failures,
      r.costUsd.toFixed(6),
      r.costMostly,
    ];
    lines.push(
      `${pad(r.kind, 16)}${pad(r.halted ? `${r.task} HALTED` : r.parked ? `${r.task} PARKED ${r.parked}` : r.task, 44)}${cells.map((v, i) => String(v).padStart(COLUMNS[i][1])).join('')}`,
    );
  }
  return lines.join('\n');
}

/** `halted at shardId-…0 sequence 4900… for 12 s (5 attempts): <error>` */
export function haltLine(h: ShardHalt): string {
  const secs = Math.round((Date.now() - h.sinceMs) / 1000);
  // The cause comes last in a derivation's or connector's message (`… /total: must be integer`): room for it.
  const error = h.error.length > 600 ? `${h.error.slice(0, 600)}… (the whole error: .sluice/logs/)` : h.error;
  return `halted at ${h.shardId} sequence ${h.sequenceNumber} for ${secs} s (${h.attempts} attempts): ${error}`;
}

export class TerminalView {
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;
  private lastPlain = 0;
  private readonly previous = new Map<string, { docs: number; at: number }>();

  constructor(
    private runner: AssemblyRunner,
    private readonly out: NodeJS.WriteStream,
    private readonly opts: { ui: boolean; header: () => string; plainEveryMs?: number },
  ) {}

  /** Show another runner from now on (the stack was restarted after an edit). */
  follow(runner: AssemblyRunner): void {
    this.runner = runner;
    this.previous.clear();
  }

  start(): void {
    this.timer = setInterval(() => this.draw(), 500);
    this.timer.unref();
  }

  draw(): void {
    const rows = viewRows(this.runner, this.previous);
    if (this.opts.ui && this.out.isTTY) {
      const errors = [
        ...rows.filter((r) => r.halted).map((r) => `  ${r.kind}:${r.task} ${haltLine(r.halted!)}`),
        ...rows
          .filter((r) => r.parked > 0)
          .map(
            (r) =>
              `  ${r.label}: ${r.parked} parked document${r.parked === 1 ? '' : 's'}: sluice parked ${r.label}; after the fix, sluice redrive ${r.label}`,
          ),
        ...this.runner.denied.slice(-3).map((d) => `  ${d.message}`),
        ...this.runner.tasks
          .filter((t) => t.fn.lastError)
          .map((t) => `  ${t.label} last error: ${t.fn.lastError!.message.slice(0, 160)}`),
        ...this.runner.ruleErrors().map((e) => `  schedule ${e.slice(0, 160)}`),
      ].slice(0, 6);
      const text = [renderTable(rows, this.opts.header()), ...errors].join('\n');
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
        `${new Date(now).toISOString()} ${r.kind} ${r.task} docs_in=${r.docsIn} docs_out=${r.docsOut} docs_per_s=${r.rate} invocations=${r.invocations} lag_ms=${r.lagMs} errors=${r.errors} dlq=${r.failures}${r.parked ? ` parked=${r.parked}` : ''}${r.halted ? ` HALTED ${haltLine(r.halted)}` : ''}\n`,
      );
    // What the terminal view shows under its table, once each here: without it a log read `errors=1` and
    // never said which error (a parked document's, an access denied, a schedule's).
    const said = (key: string, line: string) => {
      if (this.printed.get(key) === line) return;
      this.printed.set(key, line);
      this.out.write(`${new Date(now).toISOString()} ${line}\n`);
    };
    for (const t of this.runner.tasks)
      if (t.fn.lastError)
        said(`error:${t.label}`, `${t.label} error: ${t.fn.lastError.message.slice(0, 1000)}`);
    for (const d of this.runner.denied.slice(-3)) said(`denied:${d.message}`, d.message);
    for (const e of this.runner.ruleErrors()) said(`schedule:${e}`, `schedule ${e.slice(0, 1000)}`);
  }

  /** Plain mode: the last line said per error source, so each is said once. */
  private readonly printed = new Map<string, string>();

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
