/**
 * The web console in a real browser (Debian's Chromium driven by puppeteer-core) against the real local
 * stack: the clickstream example's synthesized assembly on the emulators, served by the same
 * ConsoleServer as `sluice dev`. One browser and one stack for the file; the tests run in order (the
 * publish at the end changes the catalog). Every page is screenshotted; the images go to docs/console/
 * (the README's) only with SLUICE_SCREENSHOTS=1 (`npm run screenshots`), else to a temporary folder, so
 * that running the tests leaves the checkout as it was.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { ConsoleServer } from '../../shared/console/server.ts';
import { devConsoleHost } from '../../shared/console/start.ts';
import { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { CatalogWatcher } from '../../shared/local/assembly/watch.ts';
import { type Emulators, startEmulators } from '../../shared/local/emulators.ts';
import { ASSEMBLY_CACHE, assemblyOf } from '../support/assembly.ts';
import { TEST_TMP_ROOT } from '../support/tmp-root.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const EXAMPLE = fileURLToPath(new URL('../../examples/clickstream', import.meta.url));
const SHOTS =
  process.env.SLUICE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../docs/console', import.meta.url))
    : join(TEST_TMP_ROOT, 'sluice-console-test', 'screenshots');
// A fixed folder, rewritten from the example at every run: the same content has the same assembly
// hash, so the synthesized assemblies (before and after the publish) come from the cache.
const FOLDER = join(TEST_TMP_ROOT, 'sluice-console-test', 'clickstream');
const CATALOG = join(FOLDER, 'flow.yaml');
const NEW_MATERIALIZATION = 'acmeCo/clickstream/events-to-dynamodb';

let emulators: Emulators;
let runner: AssemblyRunner;
let watcher: CatalogWatcher;
let server: ConsoleServer;
let browser: Browser;
let page: Page;
let reloads = 0;

async function startRunner(): Promise<AssemblyRunner> {
  const r = await AssemblyRunner.start({
    assembly: await assemblyOf(CATALOG),
    emulators,
    port: 0,
    shards: 2,
    onLog: () => {},
  });
  r.run();
  return r;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function go(hash: string): Promise<void> {
  await page.goto(`${server.url}${hash}`, { waitUntil: 'domcontentloaded' });
}

async function post(docs: unknown[]): Promise<void> {
  const r = await fetch(`${runner.ingestUrl}/acmeCo/clickstream/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(docs),
  });
  expect(r.status, await r.text()).toBe(200);
}

const event = (i: number, user: string, type = 'view') => ({
  event_id: `console-${user}-${i}`,
  user_id: user,
  type,
  item_id: `item-${i % 3}`,
  category: 'books',
  ts: `2026-11-01T10:00:${String(i % 60).padStart(2, '0')}Z`,
});

/** Replace the whole text of the open editor, as a paste would (no auto-indent on the way in). */
async function setEditorText(text: string): Promise<void> {
  await page.click('.cm-content');
  await page.keyboard.down('Control');
  await page.keyboard.press('a');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.sendCharacter(text);
}

// Code run in the page is passed as text: this file is type-checked for Node, without the DOM's types.
function js<T>(expr: string): Promise<T> {
  return page.evaluate(expr) as Promise<T>;
}

async function waitFor(expr: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction(expr, { timeout, polling: 100 });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`,
    );
  rmSync(FOLDER, { recursive: true, force: true });
  mkdirSync(FOLDER, { recursive: true });
  cpSync(EXAMPLE, FOLDER, { recursive: true, filter: (src) => !src.includes('.sluice') });
  mkdirSync(SHOTS, { recursive: true });
  const loaded = await loadCatalog(CATALOG);
  if (!loaded.catalog) throw new Error(JSON.stringify(loaded.diagnostics));
  emulators = await startEmulators();
  runner = await startRunner();
  // As `sluice dev` runs it: the catalog watcher applies re-synthesized assemblies (only the changed
  // functions restart, or the whole stack on a wiring change) and the console publishes through it.
  watcher = new CatalogWatcher(runner, {
    catalogPath: CATALOG,
    cacheDir: ASSEMBLY_CACHE,
    log: () => {},
    onRunner: (r) => {
      runner = r;
    },
  });
  watcher.start();
  server = new ConsoleServer(
    devConsoleHost({
      catalogPath: CATALOG,
      runner: () => watcher.current,
      shipped: () => undefined,
      refresh: () => {
        reloads++;
        return watcher.refreshNow();
      },
      dataDir: join(FOLDER, '..', 'data'),
      port: 0,
    }),
    { sampleEveryMs: 500 },
  );
  await server.start();
  // Warm the functions (each sandbox cold-starts on its first invocation, ≈ 0.5–3 s): the tests measure
  // a running flow, as `sluice dev` shows it after its first documents.
  await post([event(0, 'warm-up')]);
  const warm = Date.now();
  while (
    Date.now() - warm < 60_000 &&
    !runner.tasks.every((t) => t.kind === 'capture' || t.fn.stats.invocations > 0)
  )
    await new Promise((r) => setTimeout(r, 200));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.on('pageerror', (e) => process.stderr.write(`browser: ${String(e)}\n`));
}, 180_000);

afterAll(async () => {
  const step = async (name: string, f: () => Promise<unknown> | undefined) => {
    const t = Date.now();
    await f();
    process.stdout.write(`afterAll ${name} ${Date.now() - t} ms\n`);
  };
  await step('browser', () => browser?.close());
  await step('server', () => server?.stop());
  await step('watcher', () => watcher?.close());
  await step('runner', () => (watcher?.current ?? runner)?.stop());
  await step('emulators', () => emulators?.stop());
});

describe('web console', () => {
  it('shows every task of the example in the flow graph, interactive in well under a second', async () => {
    const started = Date.now();
    await go('');
    await page.waitForSelector('[data-node] text.figures');
    const interactiveMs = Date.now() - started;
    const nodes = await page.$$eval('[data-node]', (els) => els.map((e) => e.getAttribute('data-node')));
    expect(nodes.sort()).toEqual(
      [
        'capture:acmeCo/clickstream/ingest',
        'collection:acmeCo/clickstream/events',
        'collection:acmeCo/clickstream/user-profiles',
        'derivation:acmeCo/clickstream/user-profiles',
        'materialization:acmeCo/clickstream/profiles-to-dynamodb',
      ].sort(),
    );
    // Every function of the running stack is behind a node (persisters behind their collections).
    const tasks = await page.$$eval('[data-node]', (els) => els.map((e) => e.getAttribute('data-task')));
    for (const t of runner.tasks) expect(tasks).toContain(t.label);
    process.stdout.write(`console home interactive in ${interactiveMs} ms\n`);
    // Well under a second on an idle 2-core machine (0.2–0.8 s measured); the bound leaves room for a
    // machine busy with other test files, and still catches a page that does not come up.
    expect(interactiveMs).toBeLessThan(5000);
    // Keyboard: Tab reaches the graph's nodes (skip link and navigation first) and Enter opens one.
    let focused = '';
    for (let i = 0; i < 12 && !focused.startsWith('derivation '); i++) {
      await page.keyboard.press('Tab');
      focused = await js<string>(`document.activeElement?.getAttribute('aria-label') ?? ''`);
    }
    expect(focused).toBe('derivation acmeCo/clickstream/user-profiles');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.chart');
    expect(await js<string>('location.hash')).toBe(
      `#/task/${encodeURIComponent('derivation:acmeCo/clickstream/user-profiles')}`,
    );
  });

  it('counts documents posted to the stack within 5 s', async () => {
    await go('#/');
    await page.waitForSelector('[data-node] text.figures');
    const docsIn = (id: string) =>
      js<number>(`Number(document.querySelector('[data-node="${id}"]').getAttribute('data-docs-in'))`);
    const before = await docsIn('capture:acmeCo/clickstream/ingest');
    const beforeEvents = await docsIn('collection:acmeCo/clickstream/events');
    await post(Array.from({ length: 25 }, (_, i) => event(i, 'counts')));
    const t0 = Date.now();
    const n = (id: string) =>
      `Number(document.querySelector('[data-node="${id}"]').getAttribute('data-docs-in'))`;
    // The capture counts what it accepted: on the graph within 5 s of the post.
    await waitFor(`${n('capture:acmeCo/clickstream/ingest')} >= ${before + 25}`, 5000);
    const captured = Date.now() - t0;
    // The collection counts them once its persister's mapping delivered them (a 10 s batching window:
    // infra/event-source.ts persisterBatchingWindow), then the invocation.
    await waitFor(`${n('collection:acmeCo/clickstream/events')} >= ${beforeEvents + 25}`, 30_000);
    process.stdout.write(
      `counts moved ${captured} ms (capture) and ${Date.now() - t0} ms (collection) after the post\n`,
    );
  });

  it('shows a reduced document on the collection page, found by key prefix', async () => {
    await post([event(1, 'alice-console'), event(2, 'alice-console'), event(3, 'alice-console', 'click')]);
    await go(`#/collection/${encodeURIComponent('acmeCo/clickstream/user-profiles')}`);
    await page.waitForSelector('input[type="search"]');
    await page.type('input[type="search"]', 'alice-con');
    const deadline = Date.now() + 30_000;
    let text = '';
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 700));
      text = await page.$eval('[data-docs]', (e) => e.textContent ?? '');
      if (text.includes('"views": 2')) break;
      await page.click('.toolbar button:nth-of-type(3)'); // Refresh
    }
    expect(text).toContain('"user_id": "alice-console"');
    expect(text).toContain('"views": 2');
    expect(text).toContain('"clicks": 1');
    // The prefix search keeps other users out.
    expect(text).not.toContain('"user_id": "counts"');
    expect(await page.$eval('table.columns', (e) => e.textContent)).toContain('TIMESTAMPTZ');
    // One click copies the document.
    await browser
      .defaultBrowserContext()
      .overridePermissions(new URL(server.url).origin, [
        'clipboard-read',
        'clipboard-write',
        'clipboard-sanitized-write',
      ]);
    await page.click('[data-docs] li.doc button');
    const copied = JSON.parse(await js<string>('navigator.clipboard.readText()')) as Record<string, unknown>;
    expect(copied).toMatchObject({ user_id: 'alice-console', views: 2, clicks: 1 });
    await shot('collection');
    await go(`#/task/${encodeURIComponent('derivation:acmeCo/clickstream/user-profiles')}`);
    await page.waitForSelector('.chart canvas');
    await page.waitForSelector('table.cost');
    await shot('task');
  });

  it('posts from the ingest playground and shows a schema error at its pointer', async () => {
    await go('#/ingest');
    await page.waitForSelector('#ingest-path option');
    await waitFor(`document.querySelector('#ingest-body').value.length > 2`);
    const setBody = (doc: unknown) =>
      js(`document.querySelector('#ingest-body').value = ${JSON.stringify(JSON.stringify(doc))}`);
    await setBody({
      event_id: 'pg-1',
      user_id: 'pg',
      type: 'hover',
      item_id: 'x',
      ts: '2026-11-01T10:00:00Z',
    });
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-status]');
    expect(await page.$eval('[data-status]', (e) => e.getAttribute('data-status'))).toBe('400');
    expect(await page.$eval('#ingest-result pre', (e) => e.textContent)).toContain('/type');
    await setBody({
      event_id: 'pg-2',
      user_id: 'pg',
      type: 'view',
      item_id: 'x',
      ts: '2026-11-01T10:00:00Z',
    });
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-status="200"]');
    // Followed through the graph: the derivation reads it.
    await waitFor(
      `[...document.querySelectorAll('.follow li.reached')].some((li) => li.textContent.includes('derivation:'))`,
      15_000,
    );
    await shot('ingest');
  });

  it('runs the catalog tests: all pass on disk, a changed expectation fails with the diff', async () => {
    await go('#/tests');
    await page.waitForSelector('#run-tests');
    await page.click('#run-tests');
    await page.waitForSelector('.test-run');
    expect(
      await page.$eval('.test-run', (e) => [e.getAttribute('data-passed'), e.getAttribute('data-failed')]),
    ).toEqual(['2', '0']);
    await go('#/drafts');
    await page.waitForSelector('.cm-content');
    await waitFor(`document.querySelector('.cm-content')?.textContent.includes('materializations')`);
    const original = readFileSync(CATALOG, 'utf8');
    expect(original).toContain('              views: 3\n');
    await setEditorText(original.replace('              views: 3\n', '              views: 30\n'));
    await page.waitForSelector('[data-ok]');
    await page.click('#draft-run-tests');
    await page.waitForSelector('#draft-tests .test-run');
    const run = await page.$eval('#draft-tests .test-run', (e) => ({
      passed: e.getAttribute('data-passed'),
      failed: e.getAttribute('data-failed'),
      text: e.textContent ?? '',
    }));
    expect(run.passed).toBe('1');
    expect(run.failed).toBe('1');
    expect(run.text).toContain('acmeCo/clickstream/test-profiles-accumulate');
    expect(run.text).toMatch(/views/);
    await js(`document.querySelector('#draft-tests').scrollIntoView()`);
    await shot('tests');
    await go('#/tests');
    await page.waitForSelector('#run-tests');
    await page.click('#run-tests');
    await page.waitForSelector('.test-run');
    expect(await page.$eval('.test-run', (e) => e.getAttribute('data-failed'))).toBe('0');
    // Running the draft's tests wrote nothing.
    expect(readFileSync(CATALOG, 'utf8')).toBe(original);
  });

  it('shows a draft error inline at its line and refuses to publish it', async () => {
    await go('#/drafts');
    await waitFor(`document.querySelector('.cm-content')?.textContent.includes('materializations')`);
    const original = readFileSync(CATALOG, 'utf8');
    const lines = original.split('\n');
    const keyLine = lines.indexOf('    key: [/user_id]') + 1;
    expect(keyLine).toBeGreaterThan(0);
    const bad = original.replace('    key: [/user_id]\n', '    kye: [/user_id]\n');
    await setEditorText(bad);
    await page.waitForSelector('.cm-lintRange-error', { timeout: 10_000 });
    // The error is underlined on the line that has it.
    const lineOfError = await page.$$eval(
      '.cm-content .cm-line',
      (els) => els.findIndex((l) => l.querySelector('.cm-lintRange-error')) + 1,
    );
    expect(lineOfError).toBe(keyLine);
    const problems = await page.$eval('#draft-problems', (e) => e.textContent ?? '');
    expect(problems).toContain(`flow.yaml:${keyLine}:`);
    expect(problems).toMatch(/UnknownProperty|MissingProperty/);
    // The problem's link opens the file at its line.
    await page.click('#draft-problems li.error button');
    await waitFor(`document.querySelector('.cm-activeLine')?.textContent.includes('kye:')`, 5000);
    expect(await js<boolean>(`document.querySelector('#publish').disabled`)).toBe(true);
    await shot('drafts-error');
    // The server checks again: a draft with errors is not written, whatever the browser says.
    const r = await fetch(`${server.url}api/drafts/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ files: { 'flow.yaml': bad } }),
    });
    expect(((await r.json()) as { published: boolean }).published).toBe(false);
    expect(readFileSync(CATALOG, 'utf8')).toBe(original);
    expect(reloads).toBe(0);
  });

  it('publishes a valid draft, restarts the stack and shows the new task in the graph', async () => {
    await go('#/drafts');
    await waitFor(`document.querySelector('.cm-content')?.textContent.includes('materializations')`);
    const original = readFileSync(CATALOG, 'utf8');
    const added = original.replace(
      'materializations:\n',
      `materializations:\n  ${NEW_MATERIALIZATION}:\n    endpoint:\n      connector:\n        image: ghcr.io/estuary/materialize-dynamodb:v1\n        config:\n          region: us-east-1\n    bindings:\n      - source: acmeCo/clickstream/events\n        resource:\n          table: clickstream_events\n`,
    );
    await setEditorText(added);
    // The derivation's module too: it now refuses one user (a task that fails, for the next test).
    const module = readFileSync(join(FOLDER, 'user-profiles.ts'), 'utf8');
    const throwing = module.replace(
      '    const e = read.doc;\n',
      "    const e = read.doc;\n    if (e.user_id === 'boom') throw new Error('cannot profile user boom');\n",
    );
    expect(throwing).not.toBe(module);
    await page.click('[data-path="user-profiles.ts"] button');
    await waitFor(`document.querySelector('.cm-content')?.textContent.includes('class Derivation')`);
    await setEditorText(throwing);
    await page.click('[data-path="flow.yaml"] button');
    await page.waitForSelector(`[data-change="added materialization ${NEW_MATERIALIZATION}"]`, {
      timeout: 15_000,
    });
    await page.waitForSelector('[data-change="changed derivation acmeCo/clickstream/user-profiles"]');
    await waitFor(`!document.querySelector('#publish').disabled`);
    await page.keyboard.down('Control');
    await page.keyboard.press('Home');
    await page.keyboard.up('Control');
    await shot('drafts');
    await page.click('#publish');
    await page.waitForSelector('[data-published]', { timeout: 170_000 });
    expect(readFileSync(CATALOG, 'utf8')).toBe(added);
    expect(readFileSync(join(FOLDER, 'user-profiles.ts'), 'utf8')).toBe(throwing);
    expect(reloads).toBe(1);
    await go('');
    await page.waitForSelector(`[data-node="materialization:${NEW_MATERIALIZATION}"]`);
    expect(runner.tasks.map((t) => t.label)).toContain(`materialization:${NEW_MATERIALIZATION}`);
    // A few seconds of traffic, for a picture of the flow at work.
    for (let i = 0; i < 8; i++) {
      await post(
        Array.from({ length: 40 }, (_, j) => event(i * 40 + j, `user-${j % 9}`, j % 5 ? 'view' : 'click')),
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    // After the restart every function cold-starts again: wait until the documents reached the end.
    await waitFor(
      `Number(document.querySelector('[data-node="materialization:acmeCo/clickstream/profiles-to-dynamodb"]').getAttribute('data-docs-in')) > 0`,
      30_000,
    );
    await shot('flow');
    for (const t of runner.tasks)
      if (t.fn.stats.errors > 0)
        process.stdout.write(
          `${t.label}: ${t.fn.stats.errors} errors, last: ${t.fn.lastError?.message}\n${t.recentErrors.slice(-2).join('\n')}\n`,
        );
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    await page.setViewport({ width: 390, height: 844 });
    await go('');
    await page.waitForSelector('[data-node] text.figures');
    await shot('flow-phone-dark');
  }, 180_000);

  it('marks a failing task in the graph and links to its error', async () => {
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
    await page.setViewport({ width: 1280, height: 800 });
    await go('');
    await page.waitForSelector('[data-node] text.figures');
    await post([event(1, 'boom')]);
    const node = '[data-node="derivation:acmeCo/clickstream/user-profiles"]';
    await waitFor(
      `/status-(failing|halted)/.test(document.querySelector('${node}').getAttribute('class'))`,
      60_000,
    );
    // The node's error link opens the task page at its errors.
    await page.click(`${node} a.node-error`);
    await page.waitForSelector('#errors');
    await waitFor(`document.querySelector('main').textContent.includes('cannot profile user boom')`, 30_000);
    // Where it stands: the shard and the sequence number of the record that keeps failing.
    const text = await js<string>(`document.querySelector('main').textContent`);
    expect(text).toMatch(/shard shardId-\d+/);
    expect(text).toMatch(/firstSequenceNumber \d+|sequence \d+/);
    await shot('task-error');
  }, 120_000);
});
