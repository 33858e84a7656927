/** One test's report lines, as `sluice test` prints them and the web console shows them. */
import { join, relative, sep } from 'node:path';
import { SLUICE_ROOT } from '../package-root.ts';
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

/** Sluice's own code (sources, or dist/ and its dependencies): frames there are not where a user's module threw. */
const SLUICE_DIRS = ['shared', 'cli', 'functions', 'infra', 'dist', 'bin', 'node_modules'].map(
  (d) => join(SLUICE_ROOT, d) + sep,
);

/**
 * Where a derivation module threw: `file:line:col` (relative to the working directory) of the first
 * stack frame of the thrown error (the `cause` of the DerivationError that reports it) in the user's
 * own files. With source maps on (`sluice test` turns them on) that is the module's TypeScript source.
 * Undefined when no such frame is known.
 */
export function thrownAt(err: unknown): string | undefined {
  const thrown = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const stack = thrown instanceof Error ? thrown.stack : undefined;
  if (!stack) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const m = /^\s*at (?:.*? \()?(?:file:\/\/)?(\/[^()]+?):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!m) continue;
    const file = decodeURIComponent(m[1]);
    if (file.includes(`${sep}node_modules${sep}`) || file.includes(`${sep}sluice-modules${sep}`)) continue;
    if (SLUICE_DIRS.some((d) => file.startsWith(d))) continue;
    return `${relative(process.cwd(), file) || file}:${m[2]}:${m[3]}`;
  }
  return undefined;
}
