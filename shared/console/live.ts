/**
 * Live figures of every task, sampled once a second from the running stack (the same rows as the
 * terminal view, shared/local/view.ts) and kept for the last minutes so a task page can chart them.
 * One sample per second is broadcast to every browser, whatever the document rate: the page's cost does
 * not grow with the traffic (5,000 docs/s is 1 message/s like 1 doc/s).
 */

import { taskCost as taskCostOf, viewRows } from '../local/view.ts';
import type { LiveSnapshot, TaskLive, TaskSample, TaskStatus } from './api-types.ts';
import type { ConsoleHost } from './host.ts';

export type { LiveSnapshot, TaskLive, TaskSample, TaskStatus } from './api-types.ts';

/** How long a task counts as failing after its last error. */
const FAILING_FOR_MS = 30_000;

export class LiveStats {
  /** Per task label, the samples of the last `keep` ticks. */
  readonly history = new Map<string, TaskSample[]>();
  private readonly lastErrorAt = new Map<string, { errors: number; at: number }>();
  private readonly listeners = new Set<(s: LiveSnapshot) => void>();
  private timer: NodeJS.Timeout | undefined;
  private last: LiveSnapshot | undefined;
  generation = 0;

  constructor(
    private readonly host: ConsoleHost,
    private readonly opts: { everyMs?: number; keep?: number } = {},
  ) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.everyMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
  }

  subscribe(f: (s: LiveSnapshot) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** The latest snapshot (taken now if none yet). */
  snapshot(): LiveSnapshot {
    return this.last ?? this.tick();
  }

  /** Take a sample now and send it to every subscriber. */
  tick(): LiveSnapshot {
    const runner = this.host.runner();
    const now = Date.now();
    const keep = this.opts.keep ?? 600;
    const rows = viewRows(runner);
    const tasks: TaskLive[] = rows.map((r, i) => {
      const t = runner.tasks[i];
      const h = this.history.get(t.label) ?? [];
      const prev = h.at(-1);
      const dt = prev ? (now - prev.t) / 1000 : 0;
      // Counters restart from 0 after a reload: a negative difference is a restart, not a rate.
      const rate = (x: number, y: number | undefined) =>
        dt > 0 && y !== undefined && x >= y ? Math.round((x - y) / dt) : 0;
      const sample: TaskSample = {
        t: now,
        docsIn: r.docsIn,
        docsOut: r.docsOut,
        inRate: rate(r.docsIn, prev?.docsIn),
        outRate: rate(r.docsOut, prev?.docsOut),
        lagMs: r.lagMs,
        errors: r.errors,
        failures: r.failures,
      };
      h.push(sample);
      if (h.length > keep) h.splice(0, h.length - keep);
      this.history.set(t.label, h);
      const seen = this.lastErrorAt.get(t.label);
      if (!seen || r.errors !== seen.errors)
        this.lastErrorAt.set(t.label, { errors: r.errors, at: r.errors > (seen?.errors ?? 0) ? now : 0 });
      const failedAt = this.lastErrorAt.get(t.label)!.at;
      // Halted: a shard stands still at a record that keeps failing, or a mapping died.
      const halt = r.halted;
      const halted = halt
        ? `halted at ${halt.shardId} sequence ${halt.sequenceNumber} (${halt.attempts} attempts): ${halt.error}`
        : t.mappings.find((m) => m.failure)?.failure?.message;
      const lastError = halted ?? t.fn.lastError?.message ?? t.mappings.find((m) => m.lastError)?.lastError;
      const status: TaskStatus = halted
        ? 'halted'
        : failedAt > 0 && now - failedAt < FAILING_FOR_MS
          ? 'failing'
          : r.invocations > 0
            ? 'ok'
            : 'idle';
      return {
        ...sample,
        label: t.label,
        kind: t.kind,
        task: t.task,
        invocations: r.invocations,
        status,
        lastError: status === 'ok' || status === 'idle' ? undefined : lastError?.slice(0, 500),
        halt: halt ? { ...halt, error: halt.error.slice(0, 500) } : undefined,
      };
    });
    const snap: LiveSnapshot = {
      t: now,
      tasks,
      costUsd: runner.meter.costReport().dollars.total,
      generation: this.generation,
    };
    this.last = snap;
    for (const f of this.listeners) f(snap);
    return snap;
  }
}

/** Billable units and estimated cost of one task's run so far (the terminal view shows the same). */
export function taskCost(host: ConsoleHost, label: string) {
  const t = host.runner().tasks.find((x) => x.label === label);
  return t ? taskCostOf(t) : undefined;
}
