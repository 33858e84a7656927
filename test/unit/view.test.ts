/**
 * The terminal view of `sluice dev` shows per task what it would cost on AWS and which service most
 * of that goes to, from the same figures as the console's task page (taskCost).
 */
import { describe, expect, it } from 'vitest';
import type { AssemblyRunner, AssemblyTask } from '../../shared/local/assembly/runner.ts';
import { renderTable, TerminalView, taskCost, viewRows } from '../../shared/local/view.ts';
import { PRICES, UsageMeter } from '../../shared/ports/usage.ts';

function task(label: string, meter: UsageMeter, invocations: number, durationMs: number): AssemblyTask {
  const [kind, name] = label.split(':');
  return {
    label,
    kind,
    task: name,
    fn: { stats: { invocations, durationMs, errors: 0 }, fn: { memoryMb: 1024 } },
    mappings: [],
    metrics: {},
    recentErrors: [],
    meter,
  } as unknown as AssemblyTask;
}

describe('terminal view cost columns', () => {
  it('prices each task from its own calls and its invocations, naming the largest service', () => {
    const persister = new UsageMeter();
    persister.add({ s3PutRequests: 1000 }); // $0.005
    const derivation = new UsageMeter();
    derivation.dynamoWrite(100); // one WRU
    const runner = {
      tasks: [
        task('persister:acme/events', persister, 10, 1000),
        task('derivation:acme/totals', derivation, 1, 1),
      ],
    } as unknown as AssemblyRunner;

    const rows = viewRows(runner);
    const lambda = (inv: number, ms: number) =>
      (inv / 1e6) * PRICES.lambdaPerMillionRequests + (ms / 1000) * PRICES.lambdaPerGbSecond;
    expect(rows[0].costUsd).toBeCloseTo(0.005 + lambda(10, 1000), 12);
    expect(rows[0].costMostly).toBe('S3');
    // One WRU ($0.000000625) is more than one 1 ms invocation at 1 GB ($0.0000002 + $0.0000000167).
    expect(rows[1].costMostly).toBe('DynamoDB');
    expect(rows[1].costUsd).toBeCloseTo(taskCost(runner.tasks[1]).dollars.total, 15);

    const table = renderTable(rows, 'header').split('\n');
    expect(table[1]).toMatch(/est\. \$\s+mostly$/);
    expect(table[2]).toMatch(/0\.005\d{3}\s+S3$/);
    expect(table[3]).toMatch(/DynamoDB$/);
  });

  it('names no service before anything was spent', () => {
    const runner = { tasks: [task('capture:acme/in', new UsageMeter(), 0, 0)] } as unknown as AssemblyRunner;
    expect(viewRows(runner)[0]).toMatchObject({ costUsd: 0, costMostly: '' });
  });
});

describe('terminal view without a terminal (`--no-ui`, a log file)', () => {
  it('says each error once, beside the counts: which error, not only errors=1', () => {
    const t = task('materialization:acme/to-pg', new UsageMeter(), 3, 30);
    (t.fn as unknown as { lastError?: Error }).lastError = new Error(
      'FieldMappingError: field id: a key field cannot be excluded',
    );
    const runner = {
      tasks: [t],
      denied: [{ message: 'AccessDenied: persister:acme/events may not s3:PutObject on arn:aws:s3:::b/x' }],
      ruleErrors: () => ['Rule1: NoSuchBucket'],
    } as unknown as AssemblyRunner;
    const lines: string[] = [];
    const out = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const view = new TerminalView(runner, out, { ui: false, header: () => '', plainEveryMs: 0 });
    view.draw();
    view.draw();
    const said = lines.join('');
    expect(said).toMatch(/materialization acme\/to-pg .* errors=0/);
    for (const text of [
      'materialization:acme/to-pg error: FieldMappingError: field id: a key field cannot be excluded',
      'AccessDenied: persister:acme/events may not s3:PutObject',
      'schedule Rule1: NoSuchBucket',
    ])
      expect(said.split(text).length - 1).toBe(1); // once, though drawn twice
  });
});
