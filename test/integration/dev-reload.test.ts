/**
 * `sluice dev` follows edits: editing a derivation module re-synthesizes and restarts that function
 * only (the others keep their warm instances); a catalog edit that changes the wiring (a new
 * collection: a stream, a persister, a mapping) restarts the stack on the same emulators, which resumes
 * with its data; a catalog with errors leaves the running stack alone.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { synthesize } from '../../shared/local/assembly/synth.ts';
import { CatalogWatcher } from '../../shared/local/assembly/watch.ts';
import { sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/', import.meta.url));
let dir: string;
let catalogPath: string;
let watcher: CatalogWatcher;
const logs: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-reload-'));
  cpSync(FIXTURE, join(dir, 'flow'), { recursive: true });
  catalogPath = join(dir, 'flow', 'flow.yaml');
  const cacheDir = join(dir, 'data', 'assembly');
  const s = await synthesize(catalogPath, cacheDir);
  const runner = await AssemblyRunner.start({
    assembly: s.dir,
    dataDir: join(dir, 'data'),
    port: 0,
    shards: 1,
    onLog: () => {},
  });
  runner.run();
  watcher = new CatalogWatcher(runner, {
    catalogPath,
    cacheDir,
    dataDir: join(dir, 'data'),
    debounceMs: 100,
    log: (l) => logs.push(l),
    onRunner: () => {},
  });
  await watcher.start();
});

afterAll(async () => {
  await watcher?.close();
  await watcher?.current.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function post(path: string, docs: unknown[]): Promise<void> {
  const res = await fetch(`${watcher.current.ingestUrl}/test/ingest${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(docs),
  });
  expect(res.status, await res.text()).toBe(200);
}

/** Wait for the watcher's next log line that matches. */
async function logged(re: RegExp, timeoutMs = 90_000): Promise<string> {
  const from = logs.length;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hit = logs.slice(from).find((l) => re.test(l));
    if (hit) return hit;
    if (Date.now() > until)
      throw new Error(`no log line ${re} within ${timeoutMs} ms; got: ${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function edit(file: string, from: string, to: string): void {
  const p = join(dir, 'flow', file);
  const text = readFileSync(p, 'utf8');
  expect(text).toContain(from);
  writeFileSync(p, text.replace(from, to));
}

describe('sluice dev follows edits', () => {
  it('a derivation module edit restarts that function only, and its new code derives what comes next', async () => {
    await post('/events', [{ id: 'e1', user: 'u1', amount: 5 }]);
    await watcher.current.drain();
    expect(await sumsOf(watcher.current)).toEqual({ u1: { count: 1, total: 5 } });
    const before = watcher.current;
    const sandboxes = new Map(before.tasks.map((t) => [t.label, t.fn]));

    const line = logged(/restarted the changed functions/);
    edit('totals.ts', 'total: read.doc.amount', 'total: read.doc.amount * 100');
    expect((await line).split('\n').slice(1)).toEqual(['  ~ derivation:test/totals (code)']);
    expect(watcher.current).toBe(before); // same stack, same wiring
    for (const t of watcher.current.tasks) {
      if (t.label === 'derivation:test/totals') expect(t.fn).not.toBe(sandboxes.get(t.label));
      else expect(t.fn, t.label).toBe(sandboxes.get(t.label));
    }
    await post('/events', [{ id: 'e2', user: 'u1', amount: 2 }]);
    await watcher.current.drain();
    expect(await sumsOf(watcher.current)).toEqual({ u1: { count: 2, total: 205 } });
  });

  it('a catalog with errors leaves the stack running as it was', async () => {
    const running = watcher.current;
    const line = logged(/catalog has errors; the running stack is unchanged/);
    edit('flow.yaml', 'key: [/user]', 'key: [/nowhere]');
    expect(await line).toMatch(/nowhere/);
    expect(watcher.current).toBe(running);
    edit('flow.yaml', 'key: [/nowhere]', 'key: [/user]');
    await logged(/re-synthesized: nothing to restart/);
  });

  it('a new collection changes the wiring: the stack restarts on the same emulators and resumes with its data', async () => {
    const old = watcher.current;
    const line = logged(/stack restarted/);
    const text = readFileSync(catalogPath, 'utf8');
    writeFileSync(
      catalogPath,
      text.replace(
        'captures:',
        `  test/notes:
    schema: { type: object, properties: { id: { type: string } }, required: [id] }
    key: [/id]

captures:`,
      ),
    );
    const changes = (await line).split('\n').slice(1);
    expect(changes.some((c) => /^\s+\+ function FlowPersisterstestnotesFunction/.test(c))).toBe(true);
    expect(changes.some((c) => /^\s+\+ stream FlowCollectionstestnotesStream/.test(c))).toBe(true);
    expect(watcher.current).not.toBe(old);
    expect(watcher.current.tasks.map((t) => t.label)).toContain('persister:test/notes');
    // The restarted stack kept the emulators' data and the mapping checkpoints: nothing re-applied.
    expect(await sumsOf(watcher.current)).toEqual({ u1: { count: 2, total: 205 } });
    await post('/events', [{ id: 'e3', user: 'u2', amount: 1 }]);
    await watcher.current.drain();
    expect(await sumsOf(watcher.current)).toEqual({
      u1: { count: 2, total: 205 },
      u2: { count: 1, total: 100 },
    });
  });
});
