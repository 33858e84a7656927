/**
 * The `sluice dev` running on a data folder, if any: `<data>/endpoints.json` (written by the local stack
 * while it runs) naming a live process, and `<data>/console.json` (written by `sluice dev` once its web
 * console listens). Other commands use its emulators (`sluice read`) or its console (`sluice parked`,
 * `sluice redrive`) rather than starting a second stack on the same data.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunningStack {
  pid: number;
  kinesis: string;
  dynamodb: string;
  s3: string;
  stateTable?: string;
  /** The web console's URL (its token path included), when it is served. */
  console?: string;
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function runningStack(dataDir: string): RunningStack | undefined {
  const file = join(dataDir, 'endpoints.json');
  if (!existsSync(file)) return undefined;
  const r = JSON.parse(readFileSync(file, 'utf8')) as RunningStack;
  if (!alive(r.pid)) return undefined;
  const c = join(dataDir, 'console.json');
  return existsSync(c) ? { ...r, console: (JSON.parse(readFileSync(c, 'utf8')) as { url: string }).url } : r;
}
