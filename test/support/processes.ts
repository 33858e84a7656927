/** Processes a local stack left on a data folder, for tests that stop or kill `sluice dev`. */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';

/**
 * `pid args` of the processes naming `dir` (sluice dev, the emulators) or working in it (function
 * instances: cwd = their asset folder), this `ps` excluded.
 */
export function processesOn(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => {
      if (l.includes(' ps -eo ')) return false;
      if (l.includes(dir)) return true;
      const pid = l.trim().split(' ')[0];
      try {
        return pid !== '' && readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    });
}
