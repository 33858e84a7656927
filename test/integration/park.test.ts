/**
 * The opt-in `park` failure policy through the synthesized assembly (`-c onFailure=park`): a derivation
 * that throws on one document parks that document only — its neighbours packed in the same Kinesis
 * record are applied — and the task goes on. The parked document sits under
 * `_sluice/parked/<task>/…` with its error; `redrive` (what `sluice redrive` invokes) applies it once
 * the module is fixed, exactly once: a second redrive, even of a parked object left behind by a crash
 * between applying and removing it, changes nothing.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { afterAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { startConsole } from '../../shared/console/start.ts';
import { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { synthesize } from '../../shared/local/assembly/synth.ts';
import { CatalogWatcher } from '../../shared/local/assembly/watch.ts';
import { renderTable, viewRows } from '../../shared/local/view.ts';
import { sumEvents, sumOracle, sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-park-'));
const logs: string[] = [];
let watcher: CatalogWatcher | undefined;

afterAll(async () => {
  await watcher?.close();
  await watcher?.current.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('park: the failing document is set aside, the rest goes on', () => {
  it('parks only the document the derivation throws on; redrive applies it exactly once', async () => {
    cpSync(FIXTURE, join(dir, 'flow'), { recursive: true });
    const catalogPath = join(dir, 'flow', 'flow.yaml');
    const module = join(dir, 'flow', 'totals.ts');
    const original = readFileSync(module, 'utf8');
    writeFileSync(
      module,
      original.replace(
        'return [{ user: read.doc.user',
        "if ((read.doc as { id?: string }).id === 'e13') throw new Error('cannot derive this one');\n    return [{ user: read.doc.user",
      ),
    );
    const cacheDir = join(dir, 'data', 'assembly');
    const context = { onFailure: 'park' };
    const runner = await AssemblyRunner.start({
      assembly: (await synthesize(catalogPath, cacheDir, context)).dir,
      dataDir: join(dir, 'data'),
      port: 0,
      shards: 2,
      onLog: (l) => logs.push(l.line),
    });
    watcher = new CatalogWatcher(runner, {
      catalogPath,
      cacheDir,
      context,
      dataDir: join(dir, 'data'),
      log: () => {},
      onRunner: () => {},
    });
    // One request: its documents are packed into few records, so e13 shares its record with others.
    const events = sumEvents(60, 0, { users: 5, mul: 13, mod: 50 });
    const res = await fetch(`${runner.ingestUrl}/test/ingest/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(200);
    await runner.drain(); // does not halt

    const lot = runner.parkingLot('derivation:test/totals');
    const parked = await lot.list();
    expect(parked.map((p) => (p.parked.doc as { id: string }).id)).toEqual(['e13']);
    const p = parked[0];
    expect(p.key).toMatch(
      /^_sluice\/parked\/derivation:test\/totals\/test\/events\/shardId-\d+\/\d{128}:\d{6}\.json$/,
    );
    expect(p.parked).toMatchObject({ task: 'derivation:test/totals', collection: 'test/events' });
    expect(p.parked.error).toMatch(/cannot derive this one/);
    // Everything but e13 was applied, its record neighbours included.
    const without = events.filter((e) => e.id !== 'e13');
    expect(await sumsOf(runner)).toEqual(sumOracle(without));
    const line = logs.find((l) => l.includes('document parked'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'WARN', parked: p.key });
    expect(runner.task('derivation:test/totals').metrics.DocsParked).toBe(1);
    // The terminal view of `sluice dev` says so.
    const rows = viewRows(runner);
    expect(rows.find((r) => r.label === 'derivation:test/totals')?.parked).toBe(1);
    expect(renderTable(rows, '')).toMatch(/test\/totals PARKED 1/);

    // Still broken: a redrive parks it again, with the count of attempts, and applies nothing.
    const again = await runner.redrive('derivation:test/totals');
    expect(again).toMatchObject({ redriven: 0, remaining: 1 });
    expect(again.failures[0]?.error).toMatch(/cannot derive this one/);
    expect(again.failures[0]?.where).toMatch(/^shard shardId-\d+ · position [1-9]\d*#\d+$/);
    expect((await lot.list())[0].parked.redriveAttempts).toBe(1);

    // Fixed and applied (the edit is re-synthesized; the derivation restarts alone).
    writeFileSync(module, original);
    const applied = await watcher.refresh();
    expect(applied?.changes).toEqual(['~ derivation:test/totals (code)']);
    const stack = watcher.current;
    // Redrive from the web console, as a user would: the task page lists the parked document; its
    // Redrive button applies it.
    const web = await startConsole({
      catalogPath,
      runner: () => watcher!.current,
      shipped: () => undefined,
      dataDir: join(dir, 'data'),
      port: 0,
    });
    // What `sluice dev` writes beside endpoints.json for `sluice parked`/`redrive` from another terminal.
    writeFileSync(join(dir, 'data', 'console.json'), JSON.stringify({ url: web.url, pid: process.pid }));
    const browser = await puppeteer.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${web.url}#/task/${encodeURIComponent('derivation:test/totals')}`);
      await page.waitForFunction(
        `document.querySelector('#parked-docs')?.textContent.includes('cannot derive this one')`,
        { timeout: 30_000 },
      );
      await page.click('#parked-docs button');
      await page.waitForFunction(
        `document.querySelector('#parked-docs [role=status]')?.textContent.includes('1 redriven, 0 still parked')`,
        { timeout: 30_000 },
      );
      await page.waitForFunction(
        `!document.querySelector('#parked-docs')?.textContent.includes('cannot derive this one')`,
        { timeout: 30_000 },
      );
    } finally {
      await browser.close();
    }
    await stack.drain();
    expect(await sumsOf(stack)).toEqual(sumOracle(events));
    expect(await stack.parkingLot('derivation:test/totals').list()).toEqual([]);

    // A second redrive has nothing to do — here from the CLI, through the running stack's console; and a
    // parked object left behind (a crash between applying it and removing it) is applied again without
    // effect: the redrive shard's positions say it was.
    const { listParked, redriveParked } = await import('../../cli/parked.ts');
    const data = join(dir, 'data');
    expect((await listParked('derivation:test/totals', { data })).docs).toEqual([]);
    expect((await redriveParked('derivation:test/totals', { data })).result).toEqual({
      redriven: 0,
      remaining: 0,
      failures: [],
    });
    await web.stop();
    rmSync(join(data, 'console.json'));
    const bucket = lotBucket(stack) as string;
    await new S3BlobStore({ client: stack.admin.s3, bucket }).put(
      p.key,
      Buffer.from(`${JSON.stringify(p.parked)}\n`),
    );
    expect(await stack.redrive('derivation:test/totals')).toMatchObject({ redriven: 1, remaining: 0 });
    await stack.drain();
    expect(await sumsOf(stack)).toEqual(sumOracle(events));
  });
});

describe('sluice parked / sluice redrive on a stopped local stack', () => {
  it('lists the parked document, fails the redrive while broken (exit 1), applies it with the fixed assembly', async () => {
    const catalogPath = join(dir, 'flow', 'flow.yaml');
    const module = join(dir, 'flow', 'totals.ts');
    const original = readFileSync(module, 'utf8');
    writeFileSync(
      module,
      original.replace(
        'return [{ user: read.doc.user',
        "if ((read.doc as { id?: string }).id === 'x2') throw new Error('cannot derive x2');\n    return [{ user: read.doc.user",
      ),
    );
    const applied = await watcher!.refresh();
    expect(applied?.changes).toEqual(['~ derivation:test/totals (code)']);
    const more = [
      { id: 'x1', user: 'u0', amount: 7 },
      { id: 'x2', user: 'u1', amount: 11 },
      { id: 'x3', user: 'u2', amount: 13 },
    ];
    const res = await fetch(`${watcher!.current.ingestUrl}/test/ingest/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(more),
    });
    expect(res.status).toBe(200);
    await watcher!.current.drain();
    await watcher!.close();
    await watcher!.current.stop();
    watcher = undefined;

    const data = join(dir, 'data');
    const { listParked, runParked, runRedrive } = await import('../../cli/parked.ts');
    // Under `-c onFailure=park` the persister of test/totals parks too: the bare name is ambiguous.
    await expect(listParked('test/totals', { data })).rejects.toThrow(
      /test\/totals names several tasks \(persister:test\/totals, derivation:test\/totals\)|test\/totals names several tasks \(derivation:test\/totals, persister:test\/totals\)/,
    );
    const out = sink();
    expect(await runParked('derivation:test/totals', { data }, out)).toBe(0);
    expect(out.text()).toMatch(/^derivation:test\/totals: 1 parked document\n/);
    expect(out.text()).toMatch(/cannot derive x2/);
    const json = sink();
    expect(await runParked('derivation:test/totals', { data, json: true }, json)).toBe(0);
    expect(JSON.parse(json.text()).doc).toMatchObject(more[1]);
    expect(await runParked('persister:test/events', { data }, sink())).toBe(0);
    await expect(listParked('nothing/here', { data })).rejects.toThrow(/no task nothing\/here \(tasks: /);

    const broken = sink();
    expect(await runRedrive('derivation:test/totals', { data }, broken)).toBe(1);
    expect(broken.text()).toMatch(/0 redriven, 1 still parked/);

    writeFileSync(module, original);
    const fixed = (await synthesize(catalogPath, join(data, 'assembly'), { onFailure: 'park' })).dir;
    const ok = sink();
    expect(await runRedrive('derivation:test/totals', { data, assembly: fixed }, ok)).toBe(0);
    expect(ok.text()).toMatch(/derivation:test\/totals: 1 redriven, 0 still parked/);

    const runner = await AssemblyRunner.start({ assembly: fixed, dataDir: data, onLog: () => {} });
    try {
      runner.run();
      await runner.drain();
      const events = sumEvents(60, 0, { users: 5, mul: 13, mod: 50 });
      expect(await sumsOf(runner)).toEqual(sumOracle([...events, ...more]));
    } finally {
      await runner.stop();
    }
  });
});

function sink(): NodeJS.WritableStream & { text(): string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return Object.assign(w, { text: () => chunks.join('') });
}

function lotBucket(runner: AssemblyRunner): string | undefined {
  const env = runner.template.functions.find((f) => f.environment.SLUICE_PARKED)?.environment.SLUICE_PARKED;
  return env ? /^s3:\/\/([^/]+)\//.exec(env)?.[1] : undefined;
}
