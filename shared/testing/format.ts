/** One test's report lines, as `sluice test` prints them and the web console shows them. */
import { relative } from 'node:path';
import type { TestResult } from './runner.ts';

/** `PASS name (ms)`, or `FAIL name (ms)`, the failing step with its file:line:col, and its diff. */
export function formatResult(
  r: TestResult,
  where: { file: string; line: number; col: number } | undefined,
): string[] {
  const ms = `(${r.millis.toFixed(1)} ms)`;
  if (r.passed || !r.failure) return [`PASS ${r.name} ${ms}`];
  const f = r.failure;
  const loc = where
    ? `, ${relative(process.cwd(), where.file) || where.file}:${where.line}:${where.col}`
    : '';
  const lines = [`FAIL ${r.name} ${ms}`, `  step ${f.step} (${f.kind} ${f.collection}${loc}): ${f.message}`];
  for (const d of f.diff ?? []) lines.push(`    ${d}`);
  return lines;
}
