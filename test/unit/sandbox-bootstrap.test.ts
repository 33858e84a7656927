/**
 * A function instance (shared/local/sandbox/bootstrap.mjs) lives only as long as its runner: when the
 * IPC channel closes (the runner killed, crashed, or its test worker gone), the instance exits, even in
 * the middle of an invocation that holds timers or sockets (an SDK retry, a keep-alive connection).
 * Before, such an instance stayed, its parent PID 1: one was found an hour after a test run.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BOOTSTRAP = fileURLToPath(new URL('../../shared/local/sandbox/bootstrap.mjs', import.meta.url));
const SDK_PARENT = fileURLToPath(new URL('../../package.json', import.meta.url));

describe('sandbox bootstrap', () => {
  it('exits when its runner goes away, even in the middle of an invocation', async () => {
    const root = mkdtempSync(join(tmpdir(), 'task-root-'));
    // An invocation that never ends and keeps the event loop busy, as a call retrying forever would.
    writeFileSync(
      join(root, 'index.mjs'),
      'export const handler = () => new Promise(() => setInterval(() => {}, 100));\n',
    );
    const child = fork(BOOTSTRAP, ['index.handler', SDK_PARENT], {
      cwd: root,
      env: { LAMBDA_TASK_ROOT: root, PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'advanced',
    });
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    try {
      await new Promise<void>((ok) => child.once('message', () => ok()));
      child.send({ type: 'invoke', id: '1', event: {}, deadline: Date.now() + 60_000, requestId: 'r1' });
      await new Promise((r) => setTimeout(r, 300));
      expect(child.exitCode).toBeNull();
      child.disconnect();
      const code = await Promise.race([
        exited,
        new Promise<string>((ok) => setTimeout(() => ok('still running'), 5000)),
      ]);
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
