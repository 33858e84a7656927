/**
 * Changes to the files of a folder, recursively, through chokidar. Node 20's own recursive `fs.watch`
 * on Linux loses a file once it is replaced by a rename (what `sed -i` and editors' safe writes do): it
 * kept watching the old inode, so every later save of that file went unnoticed and a halted task
 * stayed halted after its fix (test/unit/folder-watch.test.ts).
 */
import { resolve, sep } from 'node:path';
import { watch } from 'chokidar';

export interface FolderWatch {
  /** Resolves once the folder is being watched (changes before it may be missed). */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Calls `onChange` with the absolute path of each file added, changed or removed under `root`; paths
 * `ignore` returns true for (files or folders, absolute) are neither reported nor descended into.
 */
export function watchFolder(
  root: string,
  onChange: (file: string) => void,
  ignore: (path: string) => boolean,
): FolderWatch {
  // chokidar asks about the root and its parents too: only what lies inside is the caller's to ignore.
  const inside = `${resolve(root)}${sep}`;
  const watcher = watch(resolve(root), {
    ignoreInitial: true,
    ignored: (path) => path.startsWith(inside) && ignore(path),
  });
  watcher.on('all', (event, path) => {
    if (event === 'add' || event === 'change' || event === 'unlink') onChange(path);
  });
  // A watch error (a folder removed while watched) must not end `sluice dev`.
  watcher.on('error', () => {});
  return {
    ready: new Promise((resolve) => watcher.once('ready', () => resolve())),
    close: () => watcher.close(),
  };
}
