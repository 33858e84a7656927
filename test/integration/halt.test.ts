/**
 * Estuary's rule on the deployed path: a task never skips a document. A derivation that throws on one
 * document halts its shard there (the mapping retries without limit, as synthesized), logs where (task,
 * shard, sequence numbers, error — no document contents), and once the module is fixed and the fix
 * applied (an edit, re-synthesized), processing resumes at that document: the sums equal the oracle,
 * nothing lost, nothing doubled.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { synthesize } from '../../shared/local/assembly/synth.ts';
import { CatalogWatcher } from '../../shared/local/assembly/watch.ts';
import { MappingHaltedError } from '../../shared/local/esm.ts';
import { sumEvents, sumOracle, sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-halt-'));
const logs: { functionName: string; line: string }[] = [];
let watcher: CatalogWatcher | undefined;

afterAll(async () => {
  await watcher?.close();
  await watcher?.current.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a failing document halts its task', () => {
  it('a derivation that throws on one document halts there; the fixed module resumes at it and the sums equal the oracle', async () => {
    cpSync(FIXTURE, join(dir, 'flow'), { recursive: true });
    const catalogPath = join(dir, 'flow', 'flow.yaml');
    const module = join(dir, 'flow', 'totals.ts');
    const original = readFileSync(module, 'utf8');
    const poisoned = original.replace(
      'return [{ user: read.doc.user',
      "if ((read.doc as { id?: string }).id === 'e13') throw new Error('cannot derive this one');\n    return [{ user: read.doc.user",
    );
    expect(poisoned).not.toBe(original);
    writeFileSync(module, poisoned);
    const cacheDir = join(dir, 'data', 'assembly');
    const runner = await AssemblyRunner.start({
      assembly: (await synthesize(catalogPath, cacheDir)).dir,
      dataDir: join(dir, 'data'),
      port: 0,
      shards: 2,
      onLog: (l) => logs.push(l),
    });
    watcher = new CatalogWatcher(runner, {
      catalogPath,
      cacheDir,
      dataDir: join(dir, 'data'),
      log: () => {},
      onRunner: () => {},
    });
    const events = sumEvents(60, 0, { users: 5, mul: 13, mod: 50 });
    const res = await fetch(`${runner.ingestUrl}/test/ingest/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(200);

    const halted = await runner.drain().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(halted).toBeInstanceOf(MappingHaltedError);
    const h = halted as MappingHaltedError;
    expect(h.task).toBe('derivation:test/totals');
    expect(h.halt.error).toMatch(/cannot derive this one/);
    // Held at that document: what was summed so far misses at least e13.
    const before = await sumsOf(runner);
    const summed = Object.values(before).reduce((n, t) => n + t.count, 0);
    expect(summed).toBeLessThan(events.length);
    // The function said where it halted, as one structured line, without the document.
    const line = logs
      .map((l) => l.line)
      .find((l) => l.includes('the shard halts here') && l.includes(h.halt.sequenceNumber));
    expect(line).toBeDefined();
    const logged = JSON.parse(line!) as Record<string, unknown>;
    expect(logged).toMatchObject({
      level: 'ERROR',
      task: 'derivation:test/totals',
      collection: 'test/events',
      shard: h.halt.shardId,
      firstSequenceNumber: h.halt.sequenceNumber,
      records: 1,
    });
    expect(String(logged.error)).toMatch(/cannot derive this one/);
    expect(line).not.toContain('"amount"');

    // Fix the module; the edit is re-synthesized and the derivation restarted alone.
    writeFileSync(module, original);
    const applied = await watcher.refresh();
    expect(applied?.changes).toEqual(['~ derivation:test/totals (code)']);
    await watcher.current.drain();
    expect(await sumsOf(watcher.current)).toEqual(sumOracle(events));
  });
});
