/**
 * `sluice dev` as a user runs it: the real CLI in a child process on the clickstream example. It
 * synthesizes, says where to post, ingests, and the reduced profile can be read back with `sluice read`;
 * SIGINT stops it cleanly (endpoints.json removed); a second start is warm (the cached assembly, no
 * synthesis) and resumes with the data.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processesOn } from '../support/processes.ts';

const EXAMPLE = 'examples/clickstream/flow.yaml';
const data = mkdtempSync(join(tmpdir(), 'sluice-dev-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(data, { recursive: true, force: true });
});

/** Start `sluice dev`; resolves with its output so far once it printed its ingest URL. */
function start(
  extra: string[] = [],
  group = false,
): Promise<{ child: ChildProcess; output: () => string; ingest: string }> {
  const child = spawn(
    process.execPath,
    ['bin/sluice.js', 'dev', EXAMPLE, '--data', data, '--no-ui', '--port', '0', '--no-watch', ...extra],
    // `group`: its own process group, which a terminal's Ctrl-C signals as a whole.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: group },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  return new Promise((ok, fail) => {
    const timer = setInterval(() => {
      const m = /ingest: POST JSON to (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) {
        clearInterval(timer);
        ok({ child, output: () => out, ingest: m[1] });
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(timer);
      fail(new Error(`sluice dev exited ${code} before it was ready:\n${out}`));
    });
  });
}

function stop(child: ChildProcess, group = false): Promise<number | null> {
  return new Promise((ok) => {
    child.once('exit', (code) => ok(code));
    // Ctrl-C in a terminal: SIGINT to every process of the group, the sandboxes and s3rver too.
    if (group) process.kill(-child.pid!, 'SIGINT');
    else child.kill('SIGINT');
  });
}

async function profileOf(user: string): Promise<Record<string, unknown> | undefined> {
  const r = spawnSync(
    process.execPath,
    ['bin/sluice.js', 'read', 'acmeCo/clickstream/user-profiles', '--catalog', EXAMPLE, '--data', data],
    {
      encoding: 'utf8',
    },
  );
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((d) => d.user_id === user);
}

/** The ERROR lines the functions logged (the runner appends each function's log to `<data>/logs/`). */
function functionErrors(): string[] {
  const dir = join(data, 'logs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => /"level":"ERROR"/.test(l))
      .map((l) => `${f}: ${l.slice(0, 300)}`),
  );
}

async function post(ingest: string, doc: unknown): Promise<number> {
  const res = await fetch(`${ingest}/acmeCo/clickstream/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(doc),
  });
  return res.status;
}

async function eventually<T>(f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('sluice dev', () => {
  it('runs the example from its assembly, ingests, stops cleanly, and starts warm with its data', async () => {
    const first = await start();
    expect(first.output()).toMatch(/synthesizing examples\/clickstream\/flow.yaml/);
    expect(existsSync(join(data, 'endpoints.json'))).toBe(true);
    const endpoints = JSON.parse(readFileSync(join(data, 'endpoints.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(endpoints.ingest).toBe(first.ingest);
    const event = {
      event_id: 'cli-1',
      user_id: 'zoe',
      type: 'view',
      item_id: 'b1',
      category: 'books',
      ts: '2026-11-01T10:00:00Z',
    };
    expect(await post(first.ingest, event)).toBe(200);
    const p = await eventually(async () => {
      const d = await profileOf('zoe');
      return d?.views === 1 ? d : undefined;
    });
    expect(p).toMatchObject({ user_id: 'zoe', views: 1, categories: { add: { books: 1 } } });
    // The banner's console line: the web console is served by the same process, on loopback.
    const consoleUrl = /console: (http:\/\/127\.0\.0\.1:\d+\/[\w-]+\/)\n/.exec(first.output())?.[1];
    expect(consoleUrl, first.output()).toBeDefined();
    const home = await fetch(consoleUrl!);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('assets/app.js');
    expect(await stop(first.child)).toBe(0);
    expect(first.output()).toMatch(/stopped\./);
    expect(existsSync(join(data, 'endpoints.json'))).toBe(false);

    // Warm, with the generator running, stopped as a terminal's Ctrl-C does: SIGINT to the whole
    // process group kills the sandboxes and s3rver under in-flight invocations. It used to crash
    // (ERR_IPC_CHANNEL_CLOSED from a send to a dead sandbox) or hang until exit 13 (waiting for the
    // exit of an s3rver already killed by the signal).
    const second = await start(['--generate', '200/s'], true);
    expect(second.output()).toMatch(/unchanged since it was synthesized/);
    expect(second.output()).not.toMatch(/synthesizing/);
    expect(await post(second.ingest, { ...event, event_id: 'cli-2' })).toBe(200);
    await eventually(async () => ((await profileOf('zoe'))?.views === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2000));
    expect(await stop(second.child, true), second.output()).toBe(0);
    expect(second.output()).toMatch(/stopped\./);
    expect(second.output()).not.toMatch(/ERR_IPC|EPIPE|--generate: ingest answered/);
    // And cleanly: the emulators and sandboxes leave the signal to the runner, so the batches in flight
    // finish and checkpoint. Before, the signal killed them under those batches, which failed ("batch
    // failed; the shard halts here") against a dead emulator or instance.
    expect(functionErrors()).toEqual([]);
  });

  it('`npm start` stopped with SIGTERM to npm (a process manager, a CI step) stops sluice dev too', async () => {
    // npm passes SIGTERM to the script's shell only; the shell died of it and left `sluice dev`, its
    // emulators and functions running, holding their ports. The script now `exec`s node in its place.
    const npm = spawn(
      'npm',
      ['start', '--', '--data', data, '--no-ui', '--port', '0', '--no-watch', '--no-console'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(npm);
    let out = '';
    for (const s of [npm.stdout, npm.stderr]) s?.on('data', (d) => (out += String(d)));
    await eventually(async () => (/ingest: POST JSON to/.test(out) ? true : undefined));
    // npm's stdout is also sluice dev's: it closes once sluice dev has exited too (and its output is read).
    const closed = new Promise((ok) => npm.stdout?.once('close', ok));
    npm.kill('SIGTERM');
    const stillRunning = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((ok) => setTimeout(() => ok(true), 30_000)),
    ]);
    expect(stillRunning, `still running after npm exited:\n${processesOn(data).join('\n')}\n${out}`).toBe(
      false,
    );
    expect(processesOn(data), out).toEqual([]);
    expect(out).toMatch(/stopped\./);
  });

  it('a SIGTERM while it is still starting stops it cleanly once started, leaving no process behind', async () => {
    // The signal listeners used to be set only after the banner: a signal before them (a process manager
    // stopping it at once) killed sluice dev outright, and its function instances and emulators outlived it.
    const child = spawn(
      process.execPath,
      [
        'bin/sluice.js',
        'dev',
        EXAMPLE,
        '--data',
        data,
        '--no-ui',
        '--port',
        '0',
        '--no-watch',
        '--no-console',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    for (const s of [child.stdout, child.stderr]) s?.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    // At its first line ("… unchanged since it was synthesized"), before the stack has started.
    await new Promise((ok) => child.stdout?.once('data', ok));
    child.kill('SIGTERM');
    expect(out).not.toMatch(/ingest: POST JSON to/);
    expect(await exited, out).toBe(0);
    expect(out).toMatch(/stopped\./);
    expect(processesOn(data), out).toEqual([]);
  });
});
