// `sluice dev` follows edits through watchFolder. Node 20's recursive fs.watch, used before, reported the
// first save of a file replaced by a rename (`sed -i`, editors' safe writes) and none after it, so a fixed
// module never reached a halted task.
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type FolderWatch, watchFolder } from '../../shared/local/assembly/folder-watch.ts';

const root = mkdtempSync(join(tmpdir(), 'sluice-watch-'));
let watch: FolderWatch | undefined;
afterAll(async () => {
  await watch?.close();
  rmSync(root, { recursive: true, force: true });
});

it('sees every save of a file, whether replaced by a rename or written in place, and skips ignored folders', async () => {
  mkdirSync(join(root, 'schemas'));
  mkdirSync(join(root, '.sluice'));
  const module = join(root, 'totals.ts');
  writeFileSync(module, 'export const v = 0;\n');
  const seen: string[] = [];
  watch = watchFolder(
    root,
    (file) => seen.push(relative(root, file)),
    (path) =>
      relative(root, path)
        .split(sep)
        .some((p) => p.startsWith('.')),
  );
  await watch.ready;
  /** Does `edit`, then waits until `file` is reported (or fails after 5 s). */
  const expectSeen = async (file: string, edit: () => void) => {
    // Saves as a person makes them, apart: chokidar folds events of one file within a few ms into one.
    await new Promise((r) => setTimeout(r, 150));
    seen.length = 0;
    edit();
    const deadline = Date.now() + 5000;
    while (!seen.includes(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toContain(file);
  };
  const replace = (text: string) => {
    writeFileSync(`${module}.tmp`, text);
    renameSync(`${module}.tmp`, module);
  };
  await expectSeen('totals.ts', () => replace('export const v = 1;\n'));
  await expectSeen('totals.ts', () => replace('export const v = 2;\n'));
  await expectSeen('totals.ts', () => appendFileSync(module, '// in place\n'));
  await expectSeen(join('schemas', 'a.yaml'), () =>
    writeFileSync(join(root, 'schemas', 'a.yaml'), 'type: object\n'),
  );
  // The data folder is never reported, nor is anything in it.
  seen.length = 0;
  writeFileSync(join(root, '.sluice', 'state.json'), '{}');
  await new Promise((r) => setTimeout(r, 300));
  expect(seen).toEqual([]);
});
