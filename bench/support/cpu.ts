/**
 * CPU seconds (user + system) spent by this process and every process it started, by role: where a
 * local-stack run's time goes when its cores are saturated (the runner's mappings and function
 * proxies, each sandboxed function, each emulator). Linux /proc only; elsewhere a snapshot is empty
 * and the bench prints nothing for it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux Node runs on). */
const TICKS = 100;

interface Proc {
  ppid: number;
  cpu: number;
}

function read(pid: string): Proc | undefined {
  try {
    // `pid (comm) state ppid … utime stime …`: comm may hold spaces, so split after its closing paren.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICKS };
  } catch {
    return undefined; // gone meanwhile, or not Linux
  }
}

function text(pid: number, file: 'cmdline' | 'environ'): string[] {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * CPU seconds so far of this process and its descendants, by pid, with a label: `self` for this
 * process, `kinesalite` / `dynalite` / `s3rver`, or a function's task label (`functionLabel` of its
 * AWS_LAMBDA_FUNCTION_NAME), else `other`.
 */
export function cpuSnapshot(
  self: string,
  functionLabel: (name: string) => string | undefined,
): Map<number, { label: string; cpu: number }> {
  const out = new Map<number, { label: string; cpu: number }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  const procs = new Map<number, Proc>();
  for (const p of pids) {
    const r = read(p);
    if (r) procs.set(Number(p), r);
  }
  const mine = new Set([process.pid]);
  // Descendants: parents are found before children only by chance, so iterate until nothing joins.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs)
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
  }
  for (const pid of mine) {
    const p = procs.get(pid);
    if (!p) continue;
    out.set(pid, { label: pid === process.pid ? self : labelOf(pid, functionLabel), cpu: p.cpu });
  }
  return out;
}

function labelOf(pid: number, functionLabel: (name: string) => string | undefined): string {
  const cmd = text(pid, 'cmdline').join(' ');
  for (const e of ['kinesalite', 'dynalite']) if (cmd.includes(`emulator-child.cjs ${e}`)) return e;
  if (cmd.includes('s3rver-child')) return 's3rver';
  if (cmd.includes('bootstrap.mjs')) {
    const name = text(pid, 'environ')
      .find((v) => v.startsWith('AWS_LAMBDA_FUNCTION_NAME='))
      ?.slice('AWS_LAMBDA_FUNCTION_NAME='.length);
    return (name ? functionLabel(name) : undefined) ?? 'other';
  }
  return 'other';
}

/** CPU seconds by label between two snapshots (a process started in between counts from zero). */
export function cpuSpent(
  before: Map<number, { label: string; cpu: number }>,
  after: Map<number, { label: string; cpu: number }>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, a] of after) {
    const d = a.cpu - (before.get(pid)?.cpu ?? 0);
    if (d > 0) out.set(a.label, (out.get(a.label) ?? 0) + d);
  }
  return out;
}

/** All CPU seconds of a `cpuSpent` result. */
export function cpuTotal(spent: Map<string, number>): number {
  return [...spent.values()].reduce((a, b) => a + b, 0);
}
